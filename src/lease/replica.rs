//! This replica's default identity: the ECS task's container id when running
//! on ECS, else `hostname-pid`, so two replicas never share a name.

/// The identity to write into the lease when `--replica-id` is not given.
pub fn default_replica_id() -> String {
    from_env(
        std::env::var("ECS_CONTAINER_METADATA_URI_V4")
            .ok()
            .as_deref(),
        std::env::var("HOSTNAME").ok().as_deref(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .as_deref(),
        std::process::id(),
    )
}

fn from_env(
    ecs_metadata_uri: Option<&str>,
    hostname_env: Option<&str>,
    hostname_file: Option<&str>,
    pid: u32,
) -> String {
    // The v4 metadata URI ends in an identifier unique to this task's
    // container, e.g. `http://169.254.170.2/v4/3f8a...-1234`.
    if let Some(id) = ecs_metadata_uri
        .and_then(|uri| uri.trim_end_matches('/').rsplit('/').next())
        .filter(|id| !id.is_empty() && !id.contains(':'))
    {
        return format!("ecs-{id}");
    }
    let host = [hostname_env, hostname_file]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|host| !host.is_empty())
        .unwrap_or("unknown-host");
    format!("{host}-{pid}")
}

#[cfg(test)]
mod tests {
    use super::from_env;

    #[test]
    fn ecs_task_first_then_hostname_and_pid() {
        assert_eq!(
            from_env(
                Some("http://169.254.170.2/v4/abc123-456"),
                Some("h"),
                None,
                7
            ),
            "ecs-abc123-456"
        );
        assert_eq!(from_env(None, Some("web-1"), None, 42), "web-1-42");
        assert_eq!(from_env(None, Some(" "), Some("box\n"), 42), "box-42");
        assert_eq!(from_env(None, None, None, 1), "unknown-host-1");
    }
}
