//! Reading an arrival trace: CSV `t_seconds,arrivals`, one bucket per row.
//!
//! Errors name the file and the 1-based line, so a user can open the file at
//! the offending row. The parsed [`Trace`] is shifted so its first row is at
//! time 0 and knows every bucket's length (the last row's bucket is as long
//! as the one before it; a one-row trace has a 1 s bucket).

use std::path::{Path, PathBuf};

/// One row: `arrivals` messages in `[start, start + seconds)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Seconds since the first row.
    pub start: u64,
    /// Bucket length in seconds (at least 1).
    pub seconds: u64,
    pub arrivals: u64,
}

/// A parsed trace, first row at time 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub buckets: Vec<Bucket>,
}

/// A problem in a trace file, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{}: cannot read the trace", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A FIFO, device or directory: refused unopened, since opening a FIFO
    /// blocks until something writes to it.
    #[error("{}: is not a regular file; a trace must be a file", file.display())]
    NotAFile { file: PathBuf },
    #[error("{}:{line}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

const HEADER: &str = "t_seconds,arrivals";

impl Trace {
    /// Read and parse a trace file.
    pub fn from_path(path: &Path) -> Result<Trace, TraceError> {
        let unreadable = |source| TraceError::Read {
            file: path.to_path_buf(),
            source,
        };
        if !std::fs::metadata(path).map_err(unreadable)?.is_file() {
            return Err(TraceError::NotAFile {
                file: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        Trace::parse(path, &text)
    }

    /// Parse trace text; `origin` names it in errors.
    pub fn parse(origin: &Path, text: &str) -> Result<Trace, TraceError> {
        let invalid = |line: usize, message: String| TraceError::Invalid {
            file: origin.to_path_buf(),
            line,
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty());
        match lines.next() {
            Some((_, header))
                if header.trim_start_matches('\u{feff}').replace(' ', "") == HEADER => {}
            Some((line, header)) => {
                return Err(invalid(
                    line,
                    format!("expected the header `{HEADER}`, found `{header}`"),
                ))
            }
            None => {
                return Err(invalid(
                    1,
                    format!("empty trace: expected the header `{HEADER}` and at least one row"),
                ))
            }
        }
        let mut rows: Vec<(usize, u64, u64)> = Vec::new();
        for (line, row) in lines {
            let mut fields = row.split(',').map(str::trim);
            let (Some(t), Some(arrivals), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(invalid(
                    line,
                    format!("expected two fields `t_seconds,arrivals`, found `{row}`"),
                ));
            };
            let t: u64 = t.parse().map_err(|_| {
                invalid(
                    line,
                    format!(
                        "t_seconds must be a non-negative whole number of seconds, found `{t}`"
                    ),
                )
            })?;
            let arrivals: u64 = arrivals.parse().map_err(|_| {
                invalid(
                    line,
                    format!("arrivals must be a non-negative integer, found `{arrivals}`"),
                )
            })?;
            if let Some(&(_, previous, _)) = rows.last() {
                if t <= previous {
                    return Err(invalid(
                        line,
                        format!("t_seconds must increase: {t} follows {previous}"),
                    ));
                }
            }
            rows.push((line, t, arrivals));
        }
        let Some(&(_, first, _)) = rows.first() else {
            return Err(invalid(
                text.lines().count().max(1),
                "the trace has a header but no rows".to_owned(),
            ));
        };
        let mut buckets = Vec::with_capacity(rows.len());
        for (index, &(_, t, arrivals)) in rows.iter().enumerate() {
            let seconds = match (rows.get(index + 1), index.checked_sub(1)) {
                (Some(&(_, next, _)), _) => next - t,
                (None, Some(before)) => t - rows[before].1,
                (None, None) => 1,
            };
            buckets.push(Bucket {
                start: t - first,
                seconds,
                arrivals,
            });
        }
        Ok(Trace { buckets })
    }

    /// A trace from per-second counts starting at 0 (for tests and tools).
    pub fn per_second(counts: &[u64]) -> Trace {
        Trace {
            buckets: counts
                .iter()
                .enumerate()
                .map(|(start, &arrivals)| Bucket {
                    start: start as u64,
                    seconds: 1,
                    arrivals,
                })
                .collect(),
        }
    }

    /// The end of the last bucket, in seconds: the simulation's `T_end`.
    pub fn end_seconds(&self) -> u64 {
        self.buckets
            .last()
            .map(|bucket| bucket.start + bucket.seconds)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Trace, TraceError> {
        Trace::parse(Path::new("t.csv"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn shifts_to_zero_and_sizes_buckets() {
        let trace = parse("t_seconds,arrivals\n100,5\n160,7\n220,0\n").unwrap();
        let starts: Vec<_> = trace
            .buckets
            .iter()
            .map(|b| (b.start, b.seconds, b.arrivals))
            .collect();
        assert_eq!(starts, vec![(0, 60, 5), (60, 60, 7), (120, 60, 0)]);
        assert_eq!(trace.end_seconds(), 180);
    }

    #[test]
    fn one_row_is_a_one_second_bucket() {
        let trace = parse("t_seconds,arrivals\n7,3\n").unwrap();
        assert_eq!(
            trace.buckets,
            vec![Bucket {
                start: 0,
                seconds: 1,
                arrivals: 3
            }]
        );
    }

    #[test]
    fn uneven_buckets_take_the_next_row_and_the_last_repeats_the_one_before() {
        let trace = parse("t_seconds,arrivals\n0,1\n10,2\n15,3\n").unwrap();
        let lengths: Vec<_> = trace.buckets.iter().map(|b| b.seconds).collect();
        assert_eq!(lengths, vec![10, 5, 5]);
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            error("time,count\n0,1\n"),
            "t.csv:1: expected the header `t_seconds,arrivals`, found `time,count`"
        );
        assert_eq!(
            error("t_seconds,arrivals\n0,1\n60,-3\n"),
            "t.csv:3: arrivals must be a non-negative integer, found `-3`"
        );
        assert_eq!(
            error("t_seconds,arrivals\n0,1\n1.5,3\n"),
            "t.csv:3: t_seconds must be a non-negative whole number of seconds, found `1.5`"
        );
        assert_eq!(
            error("t_seconds,arrivals\n0,1\n60,2\n60,3\n"),
            "t.csv:4: t_seconds must increase: 60 follows 60"
        );
        assert_eq!(
            error("t_seconds,arrivals\n0,1,2\n"),
            "t.csv:2: expected two fields `t_seconds,arrivals`, found `0,1,2`"
        );
        assert_eq!(
            error("t_seconds,arrivals\n"),
            "t.csv:1: the trace has a header but no rows"
        );
        assert_eq!(
            error(""),
            "t.csv:1: empty trace: expected the header `t_seconds,arrivals` and at least one row"
        );
    }

    #[test]
    fn missing_file_names_it() {
        let err = Trace::from_path(Path::new("/nonexistent/trace.csv")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/trace.csv: cannot read the trace"
        );
    }
}
