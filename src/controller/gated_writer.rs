//! The lease's last word on a write: the desired-count writer wrapped so
//! that it refuses to call `UpdateService` unless the gate is open at that
//! very moment. A standby's evaluations already run as dry-run; this
//! catches a lease lost between that check and the write.

use std::sync::Arc;

use crate::lease::WriteGate;
use crate::ports::{DesiredCountWriter, ErrorKind, PortError, PortFuture};

pub(crate) struct GatedWriter {
    inner: Arc<dyn DesiredCountWriter>,
    gate: WriteGate,
}

impl GatedWriter {
    pub fn new(inner: Arc<dyn DesiredCountWriter>, gate: WriteGate) -> GatedWriter {
        GatedWriter { inner, gate }
    }
}

impl DesiredCountWriter for GatedWriter {
    fn set_desired<'a>(
        &'a self,
        cluster: &'a str,
        service: &'a str,
        desired: u32,
    ) -> PortFuture<'a, ()> {
        if self.gate.may_write() {
            return self.inner.set_desired(cluster, service, desired);
        }
        Box::pin(async move {
            Err(PortError::new(
                ErrorKind::Other,
                "UpdateService",
                "not sent: this replica no longer holds the lease",
            ))
        })
    }
}
