//! A private PostgreSQL + PostGIS cluster for the multi-instance tests
//! (Debian's `postgresql-15-postgis-3`): `initdb` into a temporary folder,
//! `pg_ctl start` on a free local port, trust authentication, stopped and
//! removed on drop. As root (CI) the server runs as the `postgres` user.
//! When PostgreSQL or PostGIS is not installed, [`PgCluster::start`] says so
//! and returns `None` (the test is skipped) unless `TUDI_PG_TESTS=required`,
//! where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const POSTGIS: &str = "/usr/share/postgresql/15/extension/postgis.control";

pub struct PgCluster {
    dir: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl PgCluster {
    /// A running cluster, or `None` (skip) when PostgreSQL/PostGIS is absent.
    pub fn start(test: &str) -> Option<PgCluster> {
        Self::start_with(test, false)
    }

    /// As [`start`](Self::start); with `tls`, the server has `ssl = on`
    /// with a certificate for `DNS:localhost` signed by the private CA in
    /// [`ca_cert`](Self::ca_cert), and TCP clients must use TLS (`hostssl`
    /// only in `pg_hba.conf`; the Unix socket stays open for [`psql`](Self::psql)).
    pub fn start_with(test: &str, tls: bool) -> Option<PgCluster> {
        let have = Path::new(BIN).join("initdb").exists() && Path::new(POSTGIS).exists();
        if !have {
            let required = std::env::var("TUDI_PG_TESTS").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "TUDI_PG_TESTS=required but PostgreSQL 15 + PostGIS is not installed \
                 (apt-get install postgresql-15-postgis-3)"
            );
            eprintln!(
                "SKIPPED {test}: PostgreSQL 15 + PostGIS not installed \
                 (apt-get install postgresql-15-postgis-3; TUDI_PG_TESTS=required makes this fail)"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tudi-pg-")
            .tempdir_in("/tmp")
            .expect("tmp")
            .keep();
        let as_postgres = is_root();
        if as_postgres {
            let st = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(st.success());
        }
        let c = PgCluster {
            dir,
            port: free_port(),
            as_postgres,
        };
        let out = c
            .cmd("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(c.dir.join("data"))
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if tls {
            c.make_certs();
        }
        c.up();
        if tls {
            c.psql("CREATE ROLE certuser SUPERUSER LOGIN");
        }
        Some(c)
    }

    /// Runs `program` in the cluster folder, as the `postgres` user when
    /// root (so the files it writes belong to the server).
    fn run_as_owner(&self, program: &str, args: &[&str]) {
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA, a server certificate it signs (`DNS:localhost` only), a client
    /// certificate it signs for the role `certuser` (which must log in with
    /// it: the `cert` method), a second unrelated CA; `ssl = on` and
    /// `hostssl` for TCP.
    fn make_certs(&self) {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key, crt, subj) = (
                format!("{ca}.key"),
                format!("{ca}.crt"),
                format!("/CN=tudi test {ca}"),
            );
            let mut a = vec!["req", "-x509"];
            a.extend(ec);
            a.extend(["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj]);
            self.run_as_owner("openssl", &a);
        }
        self.signed_by_ca(
            "server",
            "/CN=localhost",
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        );
        self.run_as_owner("chmod", &["600", "server.key"]);
        self.signed_by_ca(
            "certuser",
            "/CN=certuser",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        );
        let data = self.dir.join("data");
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        conf.push_str(&format!(
            "\nssl = on\nssl_cert_file = '{0}/server.crt'\nssl_key_file = '{0}/server.key'\n\
             ssl_ca_file = '{0}/ca.crt'\n",
            self.dir.display()
        ));
        std::fs::write(data.join("postgresql.conf"), conf).expect("conf");
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).expect("hba");
        // First match wins: `certuser` over TCP only with its certificate.
        let hba: String = std::iter::once("hostssl all certuser all cert\n".to_string())
            .chain(hba.lines().map(|l| match l.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{l}\n"),
            }))
            .collect();
        std::fs::write(data.join("pg_hba.conf"), hba).expect("hba");
    }

    /// `{name}.key` and `{name}.crt` (P-256, subject `subj`, extensions
    /// `ext`), signed by `ca.crt`.
    fn signed_by_ca(&self, name: &str, subj: &str, ext: &str) {
        let (key, csr, crt, extfile) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        self.run_as_owner(
            "openssl",
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                subj,
            ],
        );
        std::fs::write(self.dir.join(&extfile), ext).expect("ext");
        self.run_as_owner(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &extfile,
            ],
        );
    }

    /// The certificate and key `certuser` logs in with (with [`start_with`]).
    pub fn client_cert(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("certuser.crt"), self.dir.join("certuser.key"))
    }

    /// The CA that signed the server's certificate (with [`start_with`]).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A CA that did not.
    pub fn other_ca_cert(&self) -> PathBuf {
        self.dir.join("other-ca.crt")
    }

    /// `psql` over the Unix socket: the unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = self
            .cmd("psql")
            .arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn cmd(&self, tool: &str) -> Command {
        let bin = Path::new(BIN).join(tool);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        }
    }

    /// `postgres://...` of the cluster (with a password the server ignores,
    /// so tests can check it is never printed).
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres:s3cret-pw@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// The GDAL/libpq connection string.
    pub fn libpq(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Starts the server (waits until it accepts connections).
    pub fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-t", "60", "-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Stops the server (`fast`: connections are cut, as in a restart).
    pub fn down(&self) {
        let out = self
            .cmd("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output()
            .expect("pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `tudi serve --store postgres://...` process on a free port, killed on
/// drop; its log is kept to check that no password is printed.
pub struct Instance {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<String>>,
    _data: tempfile::TempDir,
}

impl Instance {
    pub fn start(pg: &PgCluster) -> Instance {
        Self::start_url(&pg.url())
    }

    fn serve(url: &str, data: &Path, port: u16) -> Command {
        let repo = super::support::repo();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tudi"));
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--layers")
            .arg(repo.join("layers"))
            .arg("--rules")
            .arg(repo.join("rules/homestead.toml"))
            .arg("--data-dir")
            .arg(data)
            .arg("--cache-mb")
            .arg("0")
            .env("TUDI_STORE", url)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null());
        cmd
    }

    /// `tudi serve` on `url` must exit with an error within 30 s: its
    /// stderr.
    pub fn start_fails(url: &str) -> String {
        let data = tempfile::tempdir().expect("tmp");
        let mut child = Self::serve(url, data.path(), free_port())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tudi");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                assert!(!st.success(), "tudi serve exited 0: {err}");
                return err;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tudi serve on a store it cannot use did not exit within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An instance on the store `url` (e.g. with `?sslmode=...`).
    pub fn start_url(url: &str) -> Instance {
        let data = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let mut child = Self::serve(url, data.path(), port)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tudi");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let l2 = log.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut g) = l2.lock() {
                    g.push_str(&line);
                    g.push('\n');
                }
            }
        });
        let inst = Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _data: data,
        };
        inst.wait_ready();
        inst
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ok = std::net::TcpStream::connect(self.base.trim_start_matches("http://")).is_ok()
                && self.log_text().contains("all layers loaded; ready");
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} not ready: {}",
                self.base,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `tudi keys create --role admin` in the cluster: the key.
pub fn admin_key(pg: &PgCluster) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["keys", "create", "--role", "admin", "--store", &pg.url()])
        .output()
        .expect("tudi keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
