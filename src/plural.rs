//! "1 policy", "2 policies": counts in messages, in one place.

/// `count` and the noun that agrees with it.
pub fn plural(count: impl Into<u64>, one: &str, many: &str) -> String {
    let count = count.into();
    format!("{count} {}", if count == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn agrees_with_its_count() {
        assert_eq!(plural(0u32, "policy", "policies"), "0 policies");
        assert_eq!(plural(1u32, "policy", "policies"), "1 policy");
        assert_eq!(plural(2u64, "task", "tasks"), "2 tasks");
    }
}
