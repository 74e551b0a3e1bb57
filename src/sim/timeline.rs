//! One row per poll: what the controller saw and what it did.

use std::io::Write;

use crate::engine::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// Poll time in seconds since the trace start.
    pub time_s: f64,
    /// Messages that arrived since the previous poll (at this poll included).
    pub arrivals: u64,
    pub visible: u64,
    pub in_flight: u64,
    /// The desired count the controller observed.
    pub observed_desired: u32,
    /// The desired count after the decision.
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    /// How long the oldest waiting message had waited, in seconds.
    pub oldest_wait_s: f64,
    pub action: Action,
    pub reason: String,
}

/// Write rows as `timeline.csv`.
pub fn write_csv(rows: &[TimelineRow], mut out: impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "time_s,arrivals,visible,in_flight,desired,running,pending,oldest_wait_s,action,reason"
    )?;
    for row in rows {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            row.time_s,
            row.arrivals,
            row.visible,
            row.in_flight,
            row.desired,
            row.running,
            row.pending,
            row.oldest_wait_s,
            row.action,
            csv_field(&row.reason)
        )?;
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
