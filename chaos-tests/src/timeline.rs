//! `timeline.png`: operation latency over time, sends above, receives and deletes below, with
//! the fault windows shaded, each fault's recovery drawn as a bar from its start to the moment
//! sends (above) or receives (below) succeeded again, and every lost value marked where its
//! send was acknowledged.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::limits;
use shoal_chaos::checker::Verdict;
use shoal_chaos::history::{self, operations, Event, Function, Kind};
use shoal_chaos::recovery::Recovery;

/// Fonts looked for, in order (Debian's fonts-dejavu-core provides the first).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];
const WIDTH: u32 = 1600;
const HEIGHT: u32 = 1000;
const LATENCY_MIN_MS: f64 = 0.3;
const TITLE_HEIGHT: u32 = 75;

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let path = FONT_PATHS.iter().find(|path| Path::new(path).exists()).ok_or_else(|| {
                format!("no font for the timeline (looked for {FONT_PATHS:?}): apt-get install fonts-dejavu-core")
            })?;
            let bytes: &'static [u8] = Box::leak(std::fs::read(path).map_err(|e| e.to_string())?.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a font plotters can read"))
        })
        .clone()
        .map_err(|error| anyhow!(error))
}

/// A fault's window, for shading.
struct Window {
    start_s: f64,
    end_s: f64,
    label: String,
    color: RGBColor,
}

fn fault_color(name: &str) -> RGBColor {
    match name {
        "kill" => RGBColor(220, 60, 60),
        "pause" => RGBColor(70, 110, 220),
        "partition" => RGBColor(240, 150, 30),
        "clock" => RGBColor(150, 70, 190),
        _ => RGBColor(120, 120, 120),
    }
}

fn windows(events: &[Event], end_s: f64) -> Vec<Window> {
    let mut windows = Vec::new();
    let mut open: Option<(f64, String, String)> = None;
    for event in events {
        match event.f {
            Function::FaultStart => {
                let mut what = event.nodes.join(",");
                // A partition is named by its shape: "bridge: cut n1-n3".
                if let Some(detail) = event.detail.as_deref().filter(|_| event.fault.as_deref() == Some("partition")) {
                    what = detail.to_string();
                }
                open = Some((event.time_s(), event.fault.clone().unwrap_or_default(), what));
            }
            Function::FaultEnd => {
                if let Some((start_s, name, what)) = open.take() {
                    let label = format!("{name} {what}");
                    windows.push(Window { start_s, end_s: event.time_s(), color: fault_color(&name), label });
                }
            }
            _ => {}
        }
    }
    if let Some((start_s, name, what)) = open {
        windows.push(Window { start_s, end_s, color: fault_color(&name), label: format!("{name} {what}") });
    }
    windows
}

/// Draws the timeline of `events` judged by `verdict` into `path`.
pub fn draw(path: &Path, events: &[Event], verdict: &Verdict) -> anyhow::Result<()> {
    register_font()?;
    let end_s = events.last().map_or(1.0, Event::time_s).max(1.0);
    let latency_max_ms = limits::OPERATION_TIMEOUT.as_secs_f64() * 1000.0 * 2.0;
    let windows = windows(events, end_s);
    let drain_s = history::drain_start(events).map(Event::time_s);

    // (time of invoke, latency, outcome) per operation, split by panel.
    let mut sends = Vec::new();
    let mut others = Vec::new();
    for operation in operations(events) {
        let latency_ms = operation
            .latency_s()
            .map_or(latency_max_ms, |seconds| seconds * 1000.0)
            .clamp(LATENCY_MIN_MS, latency_max_ms);
        let point = (operation.invoke.time_s(), latency_ms, operation.outcome());
        if operation.invoke.f == Function::Send {
            sends.push(point);
        } else {
            others.push(point);
        }
    }

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    title
        .draw(&Text::new(verdict.summary(), (20, 12), ("sans-serif", 20).into_font().color(&BLACK)))
        .map_err(|e| anyhow!("{e:?}"))?;
    title
        .draw(&Text::new(verdict.recovery_summary(), (20, 42), ("sans-serif", 16).into_font().color(&BLACK)))
        .map_err(|e| anyhow!("{e:?}"))?;
    let (upper, lower) = body.split_vertically((HEIGHT - TITLE_HEIGHT) / 2);
    // Lost values by where they sit in their producer's sequence: a tail (often an unsynced
    // end) or a hole (a later value arrived), each labelled with the node that acknowledged it.
    let lost: Vec<(f64, f64, bool, String)> = verdict
        .lost
        .iter()
        .map(|lost| (lost.acknowledged_s, latency_max_ms * 0.8, lost.position == "hole", lost.node.clone()))
        .collect();
    let send_bars = recovery_bars(&verdict.recoveries, |recovery| recovery.send_recovered_after_s);
    let receive_bars = recovery_bars(&verdict.recoveries, |recovery| recovery.receive_recovered_after_s);
    let upper_overlay = Overlay { windows: &windows, drain_s, lost: &lost, recoveries: &send_bars };
    let lower_overlay = Overlay { windows: &windows, drain_s, lost: &[], recoveries: &receive_bars };
    panel(&upper, "sends", end_s, latency_max_ms, &upper_overlay, &sends).context("drawing the sends")?;
    panel(&lower, "receives and deletes", end_s, latency_max_ms, &lower_overlay, &others)
        .context("drawing the receives")?;
    root.present().map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}

/// A fault's recovery as drawn in one panel: from its start, for how long (`None`: not seen).
struct RecoveryBar {
    start_s: f64,
    recovered_after_s: Option<f64>,
    color: RGBColor,
}

fn recovery_bars(recoveries: &[Recovery], time: impl Fn(&Recovery) -> Option<f64>) -> Vec<RecoveryBar> {
    recoveries
        .iter()
        .map(|recovery| RecoveryBar {
            start_s: recovery.start_s,
            recovered_after_s: time(recovery),
            color: fault_color(&recovery.fault),
        })
        .collect()
}

/// What a panel draws besides its operations.
struct Overlay<'a> {
    windows: &'a [Window],
    drain_s: Option<f64>,
    lost: &'a [(f64, f64, bool, String)],
    recoveries: &'a [RecoveryBar],
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    name: &str,
    end_s: f64,
    latency_max_ms: f64,
    overlay: &Overlay<'_>,
    points: &[(f64, f64, Kind)],
) -> anyhow::Result<()> {
    let Overlay { windows, drain_s, lost, recoveries } = *overlay;
    let mut chart: Chart<'_, '_> = ChartBuilder::on(area)
        .caption(format!("{name}: latency (ms, log) by start time (s)"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..end_s, (LATENCY_MIN_MS..latency_max_ms).log_scale())
        .map_err(|e| anyhow!("{e:?}"))?;
    chart.configure_mesh().light_line_style(WHITE).draw().map_err(|e| anyhow!("{e:?}"))?;
    chart
        .draw_series(windows.iter().map(|window| {
            Rectangle::new(
                [(window.start_s, LATENCY_MIN_MS), (window.end_s, latency_max_ms)],
                window.color.mix(0.18).filled(),
            )
        }))
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .draw_series(windows.iter().enumerate().map(|(number, window)| {
            // Labels alternate between two heights so neighbours do not overlap.
            let height = if number % 2 == 0 { latency_max_ms * 0.7 } else { latency_max_ms * 0.45 };
            Text::new(
                window.label.clone(),
                (window.start_s, height),
                ("sans-serif", 13).into_font().color(&window.color),
            )
        }))
        .map_err(|e| anyhow!("{e:?}"))?;
    // Recovery bars near the top: from the fault's start until service came back, and how long.
    let bar_height = latency_max_ms * 0.88;
    for bar in recoveries {
        let style = bar.color.stroke_width(4);
        let label = match bar.recovered_after_s {
            Some(seconds) => {
                let bar_end = bar.start_s + seconds;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(bar.start_s, bar_height), (bar_end, bar_height)],
                        style,
                    )))
                    .map_err(|e| anyhow!("{e:?}"))?;
                (format!("{seconds:.1} s"), bar_end)
            }
            None => ("not back".to_string(), bar.start_s),
        };
        chart
            .draw_series(std::iter::once(Text::new(
                label.0,
                (label.1, bar_height * 0.97),
                ("sans-serif", 12).into_font().color(&bar.color),
            )))
            .map_err(|e| anyhow!("{e:?}"))?;
    }
    if let Some(drain_s) = drain_s {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(drain_s, LATENCY_MIN_MS), (drain_s, latency_max_ms)],
                BLACK.stroke_width(2),
            )))
            .map_err(|e| anyhow!("{e:?}"))?
            .label("final drain begins")
            .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], BLACK.stroke_width(2)));
    }
    for (kind, color, label) in [
        (Kind::Ok, RGBColor(40, 160, 70), "ok"),
        (Kind::Fail, RGBColor(60, 90, 200), "fail"),
        (Kind::Info, RGBColor(230, 120, 0), "info (unknown)"),
    ] {
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|point| point.2 == kind)
                    .map(|&(x, y, _)| Circle::new((x, y), 2, color.mix(0.6).filled())),
            )
            .map_err(|e| anyhow!("{e:?}"))?
            .label(label)
            .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
    }
    for (hole, color, label) in [
        (false, RED, "lost: tail of a producer (acknowledged, never received)"),
        (true, MAGENTA, "lost: hole (a later value arrived)"),
    ] {
        let marks: Vec<&(f64, f64, bool, String)> = lost.iter().filter(|mark| mark.2 == hole).collect();
        if marks.is_empty() {
            continue;
        }
        chart
            .draw_series(marks.iter().map(|mark| Cross::new((mark.0, mark.1), 7, color.stroke_width(3))))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(label)
            .legend(move |(x, y)| Cross::new((x, y), 5, color.stroke_width(3)));
        // The acknowledging node, once per run of marks from the same node.
        let mut last_node = "";
        let mut labels = Vec::new();
        for mark in &marks {
            if mark.3 != last_node {
                labels.push(Text::new(
                    mark.3.clone(),
                    (mark.0, mark.1 * 1.25),
                    ("sans-serif", 13).into_font().color(&color),
                ));
                last_node = &mark.3;
            }
        }
        chart.draw_series(labels).map_err(|e| anyhow!("{e:?}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(())
}
