//! Runs the `rustmq-broker` binary as a child process and learns where it listens, for tests
//! and tools that need a real process (kill -9, Ctrl-C, the CLI workflow).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// A `rustmq-broker --dev` child process on ephemeral ports. Killed when dropped.
///
/// ```no_run
/// let b = rustmq_broker::child::DevBroker::spawn("target/debug/rustmq-broker".as_ref(), "/tmp/d".as_ref()).unwrap();
/// println!("QUIC {} admin {} CA {}", b.quic, b.admin, b.ca_cert().display());
/// ```
pub struct DevBroker {
    child: Child,
    /// QUIC address, `host:port`.
    pub quic: String,
    /// Admin API base URL, `http://host:port`.
    pub admin: String,
    /// Data directory.
    pub data_dir: PathBuf,
}

impl DevBroker {
    /// Starts the binary with `--dev --data-dir DIR` on ephemeral 127.0.0.1 ports and waits
    /// until it prints its addresses.
    pub fn spawn(binary: &Path, data_dir: &Path) -> std::io::Result<Self> {
        Self::spawn_with_env(binary, data_dir, &[])
    }

    /// Like [`DevBroker::spawn`], with extra environment variables (config overrides such as
    /// `RUSTMQ_WAL__FSYNC_ON_WRITE=false`).
    pub fn spawn_with_env(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        Self::spawn_with(binary, data_dir, &[], env)
    }

    /// Like [`DevBroker::spawn_with_env`], with extra arguments (`--config FILE`).
    pub fn spawn_with(
        binary: &Path,
        data_dir: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        Self::start(binary, data_dir, args, env, Stdio::inherit())
    }

    /// Like [`DevBroker::spawn_with_env`], with the broker's logs (its stderr) appended to
    /// `log` instead of this process's stderr.
    pub fn spawn_logging_to(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
        log: &Path,
    ) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        Self::start(binary, data_dir, &[], env, Stdio::from(file))
    }

    fn start(
        binary: &Path,
        data_dir: &Path,
        args: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> std::io::Result<Self> {
        let mut child = Command::new(binary)
            .args(["--dev", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUSTMQ_NETWORK__QUIC_LISTEN", "127.0.0.1:0")
            .env("RUSTMQ_ADMIN__HTTP_LISTEN", "127.0.0.1:0")
            .env("RUSTMQ_LOG", "warn")
            // Tests poll the admin API far above the seed's limits.
            .env("RUSTMQ_ADMIN_RATE_LIMITING_ENABLED", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(out).lines();
        let (mut quic, mut admin) = (None, None);
        while quic.is_none() || admin.is_none() {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                return Err(std::io::Error::other(format!(
                    "broker exited before it was ready: {status}"
                )));
            };
            let line = line?;
            if let Some(v) = line.split("QUIC (clients) : ").nth(1) {
                quic = Some(v.trim().to_string());
            }
            if let Some(v) = line.split("admin REST API : ").nth(1) {
                admin = Some(v.trim().to_string());
            }
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            quic: quic.unwrap_or_default(),
            admin: admin.unwrap_or_default(),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// The development CA the broker created.
    pub fn ca_cert(&self) -> PathBuf {
        self.data_dir.join("tls/ca.pem")
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) and returns at once.
    pub fn signal(&self, signal: &str) -> std::io::Result<()> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("kill -{signal}: {status}")))
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGINT (Ctrl-C), then wait for the exit status.
    pub fn interrupt(&mut self) -> std::io::Result<ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status()?;
        self.child.wait()
    }
}

impl Drop for DevBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
