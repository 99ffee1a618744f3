//! Progress of long operations: bars and spinners (indicatif) drawn on stderr when it is a
//! terminal and nothing at all when it is piped, so scripts see only the output; and
//! `--watch`, which shows a view again and again until Ctrl-C.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a person is watching stderr.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

fn target() -> ProgressDrawTarget {
    if interactive() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A count of `what` (messages, ...) towards `total` when known, with its rate.
pub fn counter(what: &str, total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(n) => (
            ProgressBar::with_draw_target(Some(n), target()),
            "{prefix} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)",
        ),
        None => (
            ProgressBar::with_draw_target(None, target()),
            "{spinner} {prefix} {pos} ({per_sec})",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

/// A spinner with a message that changes as the operation goes on.
pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    if interactive() {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// Shows `render` once, or with `every` again and again until Ctrl-C: on a terminal the
/// screen is redrawn; piped, each showing follows the last after a line with the time.
pub async fn watch(
    every: Option<Duration>,
    mut render: impl AsyncFnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(every) = every else {
        return render().await;
    };
    let terminal = std::io::stdout().is_terminal();
    loop {
        {
            let mut out = std::io::stdout().lock();
            if terminal {
                // Clear the screen and go home (ANSI).
                write!(out, "\x1b[2J\x1b[H")?;
            }
            writeln!(
                out,
                "Every {}: {}\n",
                humantime::format_duration(every),
                jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
            )?;
        }
        // A failed showing (a controller away, an unhealthy cluster) is shown and the watch
        // goes on.
        if let Err(e) = render().await {
            eprintln!("error: {e:#}");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
