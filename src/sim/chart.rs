//! A hand-built SVG of one run: arrivals, backlog, tasks, and the age of the
//! oldest waiting message against the wait target, on one time axis, with
//! the summary in the title. No plotting crate: four polylines per panel.

use std::fmt::Write;

use super::report::Summary;
use super::timeline::TimelineRow;

const WIDTH: f64 = 1100.0;
const PANEL_HEIGHT: f64 = 150.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
/// Points drawn per line at most; longer runs keep each stretch's peak.
const MAX_POINTS: usize = 1500;

struct Series<'a> {
    label: &'a str,
    colour: &'a str,
    values: Vec<f64>,
    /// Its own time axis, for a run polled at another interval than the
    /// chart's (the alternatives); `None` shares the chart's.
    times: Option<&'a [f64]>,
}

/// Another controller's task count over time, drawn beside ours.
#[derive(Debug, Clone)]
pub struct Overlay {
    pub label: String,
    pub times: Vec<f64>,
    pub tasks: Vec<f64>,
}

/// Distinct colours for overlays, in order (none used by the other panels).
const OVERLAY_COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#e377c2", "#17becf",
];

struct Panel<'a> {
    title: String,
    series: Vec<Series<'a>>,
    /// A dashed horizontal line: (value, label).
    mark: Option<(f64, String)>,
}

/// Render the chart; `wait_target_s` is drawn on the wait panel.
pub fn render(rows: &[TimelineRow], summary: &Summary, wait_target_s: f64, end_s: f64) -> String {
    render_with(rows, summary, wait_target_s, end_s, &[])
}

/// [`render`], plus a panel under the queue depth with our desired count
/// and each overlay's, in distinct colours with a legend.
pub fn render_with(
    rows: &[TimelineRow],
    summary: &Summary,
    wait_target_s: f64,
    end_s: f64,
    overlays: &[Overlay],
) -> String {
    let times: Vec<f64> = rows.iter().map(|r| r.time_s).collect();
    let interval = times
        .windows(2)
        .next()
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .unwrap_or(1.0);
    let mut panels = vec![
        Panel {
            title: "arrivals per second (mean over each poll interval)".into(),
            series: vec![Series {
                label: "arrivals/s",
                colour: "#4c72b0",
                values: rows.iter().map(|r| r.arrivals as f64 / interval).collect(),
                times: None,
            }],
            mark: None,
        },
        Panel {
            title: "messages waiting (visible) and in service (in flight)".into(),
            series: vec![
                Series {
                    label: "visible",
                    colour: "#dd8452",
                    values: rows.iter().map(|r| r.visible as f64).collect(),
                    times: None,
                },
                Series {
                    label: "in flight",
                    colour: "#55a868",
                    values: rows.iter().map(|r| r.in_flight as f64).collect(),
                    times: None,
                },
            ],
            mark: None,
        },
        Panel {
            title: "tasks".into(),
            series: vec![
                Series {
                    label: "desired",
                    colour: "#c44e52",
                    values: rows.iter().map(|r| f64::from(r.desired)).collect(),
                    times: None,
                },
                Series {
                    label: "running",
                    colour: "#8172b3",
                    values: rows.iter().map(|r| f64::from(r.running)).collect(),
                    times: None,
                },
            ],
            mark: None,
        },
        Panel {
            title: "age of the oldest waiting message, seconds".into(),
            series: vec![Series {
                label: "oldest wait",
                colour: "#937860",
                values: rows.iter().map(|r| r.oldest_wait_s).collect(),
                times: None,
            }],
            mark: Some((wait_target_s, format!("wait target {wait_target_s} s"))),
        },
    ];

    if !overlays.is_empty() {
        let mut series = vec![Series {
            label: "ours (desired)",
            colour: "#c44e52",
            values: rows.iter().map(|r| f64::from(r.desired)).collect(),
            times: None,
        }];
        for (overlay, colour) in overlays.iter().zip(OVERLAY_COLOURS.iter().cycle()) {
            series.push(Series {
                label: &overlay.label,
                colour,
                values: overlay.tasks.clone(),
                times: Some(&overlay.times),
            });
        }
        panels.insert(
            2,
            Panel {
                title: "tasks: ours and each alternative at its cheapest setting".into(),
                series,
                mark: None,
            },
        );
    }
    let height = TOP + panels.len() as f64 * (PANEL_HEIGHT + GAP) + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let verdict = if summary.meets_wait_target {
        "meets"
    } else {
        "misses"
    };
    let cost = summary
        .cost_ratio
        .map_or("n/a".to_owned(), |c| format!("{c:.2}x"));
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">cost {cost} of the work; p99 wait {:.1} s {verdict} the {wait_target_s} s target</text>"#,
        summary.wait_p99_s
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="42" fill="#555">{} messages, p50 {:.1} s, max {:.1} s wait; {:.0} task-seconds, mean {:.1} tasks, peak {}, {} scale actions</text>"##,
        summary.messages,
        summary.wait_p50_s,
        summary.wait_max_s,
        summary.task_seconds,
        summary.mean_tasks,
        summary.peak_tasks,
        summary.scale_actions
    );
    for (index, panel) in panels.iter().enumerate() {
        let top = TOP + index as f64 * (PANEL_HEIGHT + GAP) + 20.0;
        draw_panel(&mut svg, panel, &times, top, end_s);
    }
    svg.push_str("</svg>\n");
    svg
}

fn draw_panel(svg: &mut String, panel: &Panel, times: &[f64], top: f64, end_s: f64) {
    let plot_width = WIDTH - LEFT - RIGHT;
    let mut high = panel
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0f64, f64::max);
    if let Some((mark, _)) = &panel.mark {
        high = high.max(*mark * 1.2);
    }
    if high <= 0.0 {
        high = 1.0;
    }
    let end = end_s.max(1.0);
    let x = |t: f64| LEFT + t / end * plot_width;
    let y = |v: f64| top + PANEL_HEIGHT - v / high * PANEL_HEIGHT;
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"##,
        top - 6.0,
        panel.title
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_width:.1}" height="{PANEL_HEIGHT}" fill="none" stroke="#ccc"/>"##
    );
    for fraction in [0.0, 0.5, 1.0] {
        let value = high * fraction;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            LEFT - 6.0,
            y(value) + 4.0,
            short_number(value)
        );
    }
    for tick in 0..=4 {
        let t = end * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            x(t),
            top + PANEL_HEIGHT + 14.0,
            short_time(t)
        );
    }
    if let Some((value, label)) = &panel.mark {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#c00" stroke-dasharray="6,4"/><text x="{2:.1}" y="{3:.1}" text-anchor="end" fill="#c00">{label}</text>"##,
            y(*value),
            LEFT + plot_width,
            LEFT + plot_width - 4.0,
            y(*value) - 4.0
        );
    }
    let mut legend_x = LEFT + plot_width;
    for series in panel.series.iter().rev() {
        let points = downsample(series.times.unwrap_or(times), &series.values);
        let mut path = String::new();
        for (t, v) in points {
            let _ = write!(path, "{:.1},{:.1} ", x(t), y(v));
        }
        let _ = writeln!(
            svg,
            r##"<polyline fill="none" stroke="{}" stroke-width="1.2" points="{}"/>"##,
            series.colour,
            path.trim_end()
        );
        legend_x -= 8.0 * series.label.len() as f64 + 24.0;
        let _ = writeln!(
            svg,
            r##"<rect x="{legend_x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
            top - 16.0,
            series.colour,
            legend_x + 14.0,
            top - 7.0,
            series.label
        );
    }
}

/// At most [`MAX_POINTS`] points: each stretch keeps its highest value, so
/// spikes stay visible.
fn downsample(times: &[f64], values: &[f64]) -> Vec<(f64, f64)> {
    let n = times.len().min(values.len());
    if n <= MAX_POINTS {
        return times
            .iter()
            .copied()
            .zip(values.iter().copied())
            .take(n)
            .collect();
    }
    let stretch = n.div_ceil(MAX_POINTS);
    (0..n)
        .step_by(stretch)
        .map(|start| {
            let stop = (start + stretch).min(n);
            let peak = values[start..stop].iter().copied().fold(f64::MIN, f64::max);
            (times[start], peak)
        })
        .collect()
}

fn short_number(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if value >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if value >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn short_time(seconds: f64) -> String {
    if seconds >= 2.0 * 86400.0 {
        format!("{:.1} d", seconds / 86400.0)
    } else if seconds >= 2.0 * 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 120.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}
