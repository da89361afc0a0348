//! A real PostgreSQL server for one test: Debian's `postgresql` package
//! (`/usr/lib/postgresql/<version>/bin`, which `scripts/setup.sh` installs),
//! a fresh cluster in a temporary directory, listening on a free TCP port of
//! 127.0.0.1 (and a unix socket in that directory), stopped and deleted on
//! drop, also when the test panics.
//!
//! `initdb` refuses to run as root, so as root (CI) the cluster belongs to
//! the `postgres` user and every server binary runs through `runuser -u
//! postgres --`. No server binaries is a failure that says what to install,
//! never a skip. `PG_BIN` overrides the directory of the binaries.
//!
//! The cluster runs with `fsync=off`: it is thrown away after the test.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::TempDir;

/// A running PostgreSQL server, stopped and deleted on drop.
pub struct PgServer {
    bin: PathBuf,
    /// Run the binaries as `postgres` (we are root).
    as_postgres: bool,
    port: u16,
    data: PathBuf,
    // Last: dropped after the server is stopped.
    dir: TempDir,
}

/// The directory holding initdb and pg_ctl, or a panic saying what is missing.
fn find_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file() && dir.join("pg_ctl").is_file(),
            "PG_BIN={} has no initdb and pg_ctl",
            dir.display()
        );
        return dir;
    }
    // Debian: /usr/lib/postgresql/<major>/bin; the newest major wins.
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    // Other systems put them on PATH.
    if let Some(dir) = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    }) {
        return dir;
    }
    panic!(
        "PostgreSQL server binaries missing: no /usr/lib/postgresql/*/bin/initdb and no initdb and pg_ctl \
         on PATH. Install Debian's `postgresql` package (scripts/setup.sh does), or set PG_BIN."
    );
}

/// The uid and gid of `user`, from /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr()
        .expect("local address of a bound listener")
        .port()
}

impl PgServer {
    /// initdb, pg_ctl start -w: a server ready for connections.
    pub fn start() -> PgServer {
        let bin = find_bin();
        // The owner of /proc/self is our effective uid.
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let dir = TempDir::new("pg");
        if root {
            let (uid, gid) = user_ids("postgres").unwrap_or_else(|| {
                panic!("running as root and there is no `postgres` user (Debian's postgresql package creates it)")
            });
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("chown of the cluster directory");
        }
        let data = dir.path().join("data");
        let mut server = PgServer {
            bin,
            as_postgres: root,
            port: 0,
            data,
            dir,
        };
        let data = server
            .data
            .to_str()
            .expect("a UTF-8 temporary directory")
            .to_string();
        server.run_ok(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // Another process may take the port between free_port and the server's bind: retry.
        let log = server.dir.path().join("server.log");
        let log = log.to_str().expect("UTF-8").to_string();
        let socket_dir = server.dir.path().to_str().expect("UTF-8").to_string();
        for attempt in 1..=5 {
            server.port = free_port();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={socket_dir} -c fsync=off \
                 -c max_connections=50",
                server.port
            );
            let out = server.run(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &opts, "start",
                ],
            );
            if out.status.success() {
                return server;
            }
            eprintln!(
                "pg_ctl start, attempt {attempt}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!(
            "PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn command(&self, prog: &str) -> Command {
        let path = self.bin.join(prog);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, prog: &str, args: &[&str]) -> Output {
        self.command(prog)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("running {prog} (as postgres: {}): {e}", self.as_postgres))
    }

    fn run_ok(&self, prog: &str, args: &[&str]) {
        let out = self.run(prog, args);
        assert!(
            out.status.success(),
            "{prog} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates database `name` and returns its `postgres://` URL.
    pub fn create_db(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("connecting to the test server");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("CREATE DATABASE");
        self.url(name)
    }

    /// The `postgres://` URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap_or_default().to_string();
        let out = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        if !out.status.success() {
            eprintln!("pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        }
        // `dir` is deleted when the fields drop, after this.
    }
}
