//! One observation of a policy: its queues' depths and its service's counts,
//! read through the ports. Shared by the daemon and `plan`.

use crate::engine::Observation;
use crate::policy::Policy;
use crate::ports::{PortError, Ports};

/// Read everything the engine needs for `policy`. The queues are read one
/// after the other while the service is read alongside; the first failure
/// fails the whole observation, because a partial backlog is not a backlog.
pub async fn observe(policy: &Policy, ports: &Ports) -> Result<Observation, PortError> {
    let queues = async {
        let mut depths = Vec::with_capacity(policy.queues.len());
        for queue in &policy.queues {
            depths.push(ports.queues.queue_depth(&queue.queue).await?);
        }
        Ok::<_, PortError>(depths)
    };
    let service = ports
        .services
        .service_state(&policy.cluster, &policy.service);
    let (queues, service) = tokio::join!(queues, service);
    Ok(Observation {
        queues: queues?,
        service: service?,
    })
}
