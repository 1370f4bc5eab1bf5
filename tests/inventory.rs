//! `hostsFrom`: a HostGroup's hosts read from an Ansible inventory (INI or
//! YAML) or an ssh_config in the fleet repository, checked like written
//! hosts, with every problem reported at the inventory file's line:col;
//! `patchwave init --from-ansible` / `--from-ssh-config`; and hosts from an
//! ssh_config reached over SSH and patched on real apt hosts (fleet subnet
//! 17, started by the one test that needs it).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use patchwave::spec::{self, Checked};
use support::aptrepo::{Deb, SECURITY};
use support::aptworld::AptWorld;
use support::policy;

/// A baseline, a window and a rollout the groups below refer to.
const COMMON: &str = r#"apiVersion: patchwave.dev/v1
kind: PatchBaseline
metadata: {name: default}
spec:
  approvalRules:
    - {name: security, classifications: [security], approveAfterDays: 0}
---
apiVersion: patchwave.dev/v1
kind: MaintenanceWindow
metadata: {name: weekly}
spec: {schedule: "0 22 * * SAT", duration: 4h}
---
apiVersion: patchwave.dev/v1
kind: RolloutPolicy
metadata: {name: canary}
spec: {waves: [1, "100%"]}
"#;

/// A repository of COMMON, the group documents in `groups/<name>.yaml`
/// and the other files given, as (relative path, contents).
fn repo(groups: &[(&str, &str)], files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("common.yaml"), COMMON).unwrap();
    for (name, spec) in groups {
        let doc = format!(
            "apiVersion: patchwave.dev/v1\nkind: HostGroup\nmetadata: {{name: {name}}}\nspec:\n  baseline: default\n  windows: [weekly]\n  rollout: canary\n{spec}"
        );
        write(tmp.path(), &format!("groups/{name}.yaml"), &doc);
    }
    for (path, text) in files {
        write(tmp.path(), path, text);
    }
    tmp
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Each diagnostic's first line, with paths relative to the repository.
fn lines(root: &Path, checked: &Checked) -> Vec<String> {
    checked
        .diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.file = d.file.strip_prefix(root).unwrap_or(&d.file).to_path_buf();
            d.to_string().lines().next().unwrap().to_string()
        })
        .collect()
}

/// (name, address, port, user, labels) of each host of a group.
fn hosts(checked: &Checked, group: &str) -> Vec<String> {
    checked
        .repo
        .group(group)
        .unwrap()
        .spec
        .hosts
        .iter()
        .map(|h| {
            let mut s = h.name.value.clone();
            s += &format!(
                " {} {} {}",
                h.address.as_ref().map_or("-", |a| a.value.as_str()),
                h.port.as_ref().map_or("-".into(), |p| p.value.to_string()),
                h.user.as_ref().map_or("-", |u| u.value.as_str()),
            );
            for (k, v) in &h.labels {
                s += &format!(" {k}={v}");
            }
            s
        })
        .collect()
}

fn check(dir: &tempfile::TempDir) -> Checked {
    spec::check(dir.path()).unwrap()
}

const INI: &str = "\
# the web tier
top.example.com ansible_host=192.0.2.1

[web]
web[01:03] ansible_port=2201
web-canary ansible_host=192.0.2.50 ansible_user=\"canary\"  # comment

[db]
db-[a:b]:2222

[dbreplica]
replica1 ansible_ssh_host=192.0.2.70

[db:children]
dbreplica

[prod:children]
web
db

[prod:vars]
ansible_user=deploy
[dbreplica:vars]
ansible_user = replicator
[all:vars]
ansible_user=everyone
ansible_ssh_private_key_file=/secret/key
";

#[test]
fn an_ini_inventory_gives_a_group_its_hosts() {
    let tmp = repo(
        &[
            (
                "web",
                "  hostsFrom:\n    - ansibleInventory: inventory/hosts.ini\n      group: web\n      hosts: [\"web0*\"]\n      labels: {tier: web}\n    - ansibleInventory: ./inventory/hosts.ini\n      group: web\n      hosts: [web-canary]\n      labels: {canary: \"true\"}\n  hosts:\n    - {name: web-written, address: 192.0.2.99}\n",
            ),
            (
                "db",
                "  hostsFrom:\n    - {ansibleInventory: inventory/hosts.ini, group: db}\n",
            ),
            (
                "rest",
                "  hostsFrom:\n    - {ansibleInventory: inventory/hosts.ini, group: ungrouped}\n",
            ),
        ],
        &[("inventory/hosts.ini", INI)],
    );
    let checked = check(&tmp);
    assert!(
        checked.diagnostics.is_empty(),
        "{:?}",
        lines(tmp.path(), &checked)
    );
    assert_eq!(
        hosts(&checked, "web"),
        [
            "web-written 192.0.2.99 - -",
            "web01 - 2201 deploy tier=web",
            "web02 - 2201 deploy tier=web",
            "web03 - 2201 deploy tier=web",
            "web-canary 192.0.2.50 - canary canary=true",
        ]
    );
    // A child group's variables win over its parent's; a port in the host
    // pattern is the host's.
    assert_eq!(
        hosts(&checked, "db"),
        [
            "db-a - 2222 deploy",
            "db-b - 2222 deploy",
            "replica1 192.0.2.70 - replicator",
        ]
    );
    assert_eq!(
        hosts(&checked, "rest"),
        ["top.example.com 192.0.2.1 - everyone"]
    );
    // Positions are in the inventory, and the host knows its file.
    let h = &checked.repo.group("db").unwrap().spec.hosts[2];
    assert_eq!(
        h.source.as_deref(),
        Some(tmp.path().join("inventory/hosts.ini").as_path())
    );
    assert_eq!((h.name.pos.line, h.name.pos.col), (12, 1));
}

#[test]
fn a_yaml_inventory_gives_a_group_its_hosts() {
    let inv = "\
all:
  vars:
    ansible_user: everyone
  hosts:
    mail.example.com:
  children:
    webservers:
      hosts:
        web[1:2].example.com:
          ansible_port: 2222
          unrelated: {nested: [1, 2]}
        foo.example.com:
          ansible_host: 192.0.2.5
      vars:
        ansible_user: deploy
      children:
        canaries:
          hosts:
            canary.example.com:
              ansible_user: canary
";
    let tmp = repo(
        &[(
            "web",
            "  hostsFrom:\n    - {ansibleInventory: inventory/hosts.yml, group: webservers}\n",
        )],
        &[("inventory/hosts.yml", inv)],
    );
    let checked = check(&tmp);
    assert!(
        checked.diagnostics.is_empty(),
        "{:?}",
        lines(tmp.path(), &checked)
    );
    assert_eq!(
        hosts(&checked, "web"),
        [
            "web1.example.com - 2222 deploy",
            "web2.example.com - 2222 deploy",
            "foo.example.com 192.0.2.5 - deploy",
            "canary.example.com - - canary",
        ]
    );
}

#[test]
fn an_ssh_config_gives_its_concrete_hosts_and_skips_patterns() {
    let cfg = "\
# a user's ssh_config
User ops
Host bastion
  HostName 192.0.2.1
Host web-1 web-2
  HostName %h.example.com
  Port 2222
Host *.example.com !secret.example.com
  Port 2200
  User web
Host db-1
  HostName 192.0.2.20
Host *
  ServerAliveInterval 30
  User ignored
";
    let tmp = repo(
        &[
            (
                "web",
                "  hostsFrom:\n    - sshConfig: ssh/config\n      hosts: [\"web-*\"]\n",
            ),
            (
                "other",
                "  hostsFrom:\n    - sshConfig: ssh/config\n      hosts: [\"b*\", \"db-?\"]\n",
            ),
        ],
        &[("ssh/config", cfg)],
    );
    let checked = check(&tmp);
    assert!(
        checked.diagnostics.is_empty(),
        "{:?}",
        lines(tmp.path(), &checked)
    );
    assert_eq!(
        hosts(&checked, "web"),
        [
            "web-1 web-1.example.com 2222 ops",
            "web-2 web-2.example.com 2222 ops",
        ]
    );
    assert_eq!(
        hosts(&checked, "other"),
        ["bastion 192.0.2.1 - ops", "db-1 192.0.2.20 - ops"]
    );
    // Every concrete Host, none of the patterns.
    let all = repo(
        &[("all", "  hostsFrom:\n    - sshConfig: ssh/config\n")],
        &[("ssh/config", cfg)],
    );
    let checked = check(&all);
    let names: Vec<&str> = checked
        .repo
        .group("all")
        .unwrap()
        .spec
        .hosts
        .iter()
        .map(|h| h.name.value.as_str())
        .collect();
    assert_eq!(names, ["bastion", "web-1", "web-2", "db-1"]);
}

/// Each case: a file, its contents, and the one error it must give.
#[test]
fn inventory_problems_are_reported_at_the_inventory_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_user\n",
            "inventory/hosts.ini:2:6: error: expected `name=value` after host `web1`, got `ansible_user`",
        ),
        (
            "inventory/hosts.ini",
            "[web]\n\nweb[01:3]\n",
            "inventory/hosts.ini:3:1: error: host range `web[01:3]` has begin and end of different widths",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1\n[web:hosts]\n",
            "inventory/hosts.ini:3:2: error: section `[web:hosts]` has unknown type `hosts`",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1\n[prod:children]\nweb\ndbs\n",
            "inventory/hosts.ini:5:1: error: a [name:children] section names undefined group `dbs`",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_host='192.0.2.1\n",
            "inventory/hosts.ini:2:19: error: unclosed quote `'`",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1\n[web:vars]\nansible_port=ssh\n",
            "inventory/hosts.ini:4:14: error: ansible_port `ssh` is not a port number",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_port=70000\n",
            "inventory/hosts.ini:2:19: error: port `70000` is out of range",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_host=-oProxyCommand=x\n",
            "inventory/hosts.ini:2:19: error: address `-oProxyCommand=x` is not a DNS name or IP address",
        ),
        (
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_user='a;b'\n",
            "inventory/hosts.ini:2:19: error: user `a;b` is not a valid ssh user name",
        ),
        (
            "inventory/hosts.ini",
            "[web]\n_web1\n",
            "inventory/hosts.ini:2:1: error: host `_web1` is not a valid host name",
        ),
        (
            "inventory/hosts.ini",
            "#!/usr/bin/env python3\nimport json\n",
            "inventory/hosts.ini:1:1: error: this inventory is a script; patchwave never runs it",
        ),
        (
            "inventory/hosts.yaml",
            "all:\n  children:\n    web:\n      host:\n        web1:\n",
            "inventory/hosts.yaml:4:7: error: unknown field `host`",
        ),
        (
            "inventory/hosts.yaml",
            "all:\n  hosts:\n    web1:\n      ansible_port: [22]\n",
            "inventory/hosts.yaml:4:7: error: invalid type: sequence, expected a string or a number",
        ),
        (
            "ssh/config",
            "Host web1\n  HostName 192.0.2.1\nInclude config.d/*\n",
            "ssh/config:3:1: error: `Include` is not followed",
        ),
        (
            "ssh/config",
            "Host web1\n  Port 22 23\n",
            "ssh/config:2:3: error: `Port` takes exactly one value",
        ),
    ];
    for (file, text, want) in cases {
        let key = if file.starts_with("ssh/") {
            "sshConfig"
        } else {
            "ansibleInventory"
        };
        let tmp = repo(
            &[("web", &format!("  hostsFrom:\n    - {key}: {file}\n"))],
            &[(file, text)],
        );
        let checked = check(&tmp);
        let got = lines(tmp.path(), &checked);
        let errors: Vec<&String> = got.iter().filter(|l| l.contains(": error: ")).collect();
        assert_eq!(errors.len(), 1, "{file} {text:?}: {got:?}");
        assert!(errors[0].starts_with(want), "{file} {text:?}: {got:?}");
        // Every error has a hint.
        assert!(
            checked.diagnostics.iter().all(|d| d.hint.is_some()),
            "{:?}",
            checked.diagnostics
        );
    }
}

/// Problems with the `hostsFrom` entry itself are in the group's file.
#[test]
fn entry_problems_are_reported_in_the_group_file() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("hosts"), "[web]\nweb1\n").unwrap();
    let cases: Vec<(String, &str)> = vec![
        (
            "    - ansibleInventory: inventory/missing.ini\n".into(),
            "groups/web.yaml:9:25: error: ansibleInventory `inventory/missing.ini` does not exist in the repository",
        ),
        (
            "    - {ansibleInventory: inventory/hosts.ini, group: wbe}\n".into(),
            "groups/web.yaml:9:54: error: group `wbe` is not in",
        ),
        (
            "    - ansibleInventory: /etc/ansible/hosts\n".into(),
            "groups/web.yaml:9:25: error: ansibleInventory `/etc/ansible/hosts` must be a path inside the repository",
        ),
        (
            "    - sshConfig: ../ssh/config\n".into(),
            "groups/web.yaml:9:18: error: sshConfig `../ssh/config` must be a path inside the repository",
        ),
        (
            "    - {sshConfig: ssh/config, group: web}\n".into(),
            "groups/web.yaml:9:38: error: `group` selects an Ansible inventory group; an ssh_config has none",
        ),
        (
            "    - {ansibleInventory: inventory/hosts.ini, sshConfig: ssh/config}\n".into(),
            "groups/web.yaml:9:7: error: a hostsFrom entry needs exactly one of `ansibleInventory` or `sshConfig`",
        ),
        (
            "    - ansibleInventory: inventory\n".into(),
            "groups/web.yaml:9:25: error: ansibleInventory `inventory` is a directory",
        ),
        (
            "    - ansibleInventory: inventory/link.ini\n".into(),
            "groups/web.yaml:9:25: error: ansibleInventory `inventory/link.ini`: symlink points outside the repository",
        ),
        (
            "    - {ansibleInventory: inventory/hosts.ini, labels: {\"bad key\": x}}\n".into(),
            "groups/web.yaml:9:7: error: hostsFrom labels: `bad key` is not a valid label key",
        ),
    ];
    for (entry, want) in cases {
        let tmp = repo(
            &[("web", &format!("  hostsFrom:\n{entry}"))],
            &[
                ("inventory/hosts.ini", "[web]\nweb1\n"),
                ("ssh/config", "Host a\n"),
            ],
        );
        std::os::unix::fs::symlink(
            outside.path().join("hosts"),
            tmp.path().join("inventory/link.ini"),
        )
        .unwrap();
        let checked = check(&tmp);
        let got = lines(tmp.path(), &checked);
        let errors: Vec<&String> = got.iter().filter(|l| l.contains(": error: ")).collect();
        assert_eq!(errors.len(), 1, "{entry}: {got:?}");
        assert!(errors[0].starts_with(want), "{entry}: {got:?}");
    }
}

#[test]
fn inventory_hosts_are_duplicates_like_written_ones() {
    let tmp = repo(
        &[
            (
                "web",
                "  hostsFrom:\n    - ansibleInventory: inventory/hosts.ini\n      group: web\n  hosts:\n    - {name: web2, address: 192.0.2.2}\n",
            ),
            (
                "db",
                "  hostsFrom:\n    - {ansibleInventory: inventory/hosts.ini, group: db}\n",
            ),
        ],
        &[(
            "inventory/hosts.ini",
            "[web]\nweb1 ansible_host=192.0.2.1\nweb2\n[db]\ndb1 ansible_host=192.0.2.1\nweb1\n",
        )],
    );
    let checked = check(&tmp);
    let got = lines(tmp.path(), &checked);
    // db.yaml sorts before web.yaml: its hosts are seen first.
    for want in [
        "inventory/hosts.ini:3:1: error: duplicate host `web2` in group `web`",
        "inventory/hosts.ini:2:1: error: host `web1` is in two groups, `db` and `web`",
        "inventory/hosts.ini:5:18: error: address `192.0.2.1` of host `db1` is already used by host `web1`",
    ] {
        assert!(got.iter().any(|l| l == want), "missing {want}: {got:?}");
    }
    let hint = |m: &str| {
        checked
            .diagnostics
            .iter()
            .find(|d| d.message.starts_with(m))
            .and_then(|d| d.hint.clone())
            .unwrap()
    };
    assert!(
        hint("duplicate host `web2`").contains("groups/web.yaml:12:14"),
        "{got:?}"
    );
    assert_eq!(
        got.iter().filter(|l| l.contains(": error: ")).count(),
        3,
        "{got:?}"
    );
}

#[test]
fn unmatched_patterns_and_unread_connection_settings_are_warnings() {
    let tmp = repo(
        &[(
            "web",
            "  hostsFrom:\n    - sshConfig: ssh/config\n      hosts: [\"web-*\", \"wbe-*\"]\n",
        )],
        &[(
            "ssh/config",
            "Host web-1\n  ProxyJump bastion\nHost other\n  IdentityFile ~/.ssh/x\nMatch host web-1\n  User m\n",
        )],
    );
    let checked = check(&tmp);
    assert!(!checked.has_errors());
    let got = lines(tmp.path(), &checked);
    assert_eq!(
        got,
        [
            "groups/web.yaml:10:24: warning: `wbe-*` matches no host of ssh/config",
            "ssh/config:2:3: warning: `ProxyJump` is not used: patchwave takes only HostName, Port and User from an ssh_config",
            "ssh/config:5:1: warning: `Match` blocks are not evaluated: their settings apply to no host",
        ],
        "IdentityFile of a host not selected is not worth a warning"
    );
}

fn patchwave(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwave"))
        .args(args)
        .env("PATCHWAVE_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `init --from-…` writes a repository that validates and whose plan
/// (from facts that hold no host) lists the file's hosts.
fn init_and_plan(tmp: &Path, from: &[&str], copy: &str, group: &str, want: &[&str]) {
    let dir = tmp.join("fleet");
    let d = dir.to_str().unwrap();
    let state = tmp.join("state");
    let mut args = vec!["init", d];
    args.extend(from);
    let out = patchwave(&state, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "group `{group}`: {} hosts from {copy}",
            want.len()
        )),
        "{}",
        text(&out)
    );
    assert!(dir.join(copy).is_file(), "{copy} not written");
    let group_file = fs::read_to_string(dir.join(format!("groups/{group}.yaml"))).unwrap();
    assert!(group_file.contains(&format!(": {copy}")), "{group_file}");
    let v = patchwave(&state, &["validate", "--repo", d]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let facts = tmp.join("facts.json");
    fs::write(&facts, r#"{"version": 1, "hosts": []}"#).unwrap();
    let plan = patchwave(
        &state,
        &[
            "plan",
            "--repo",
            d,
            "--format",
            "json",
            "--facts",
            facts.to_str().unwrap(),
        ],
    );
    assert!(
        matches!(plan.status.code(), Some(0) | Some(2)),
        "{}",
        text(&plan)
    );
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{doc}");
    assert_eq!(groups[0]["group"], group);
    let unknown: Vec<&str> = groups[0]["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["host"].as_str().unwrap())
        .collect();
    assert_eq!(unknown, want, "{doc}");
}

#[test]
fn init_from_an_ansible_inventory() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hosts");
    fs::write(&src, INI).unwrap();
    init_and_plan(
        tmp.path(),
        &[
            "--from-ansible",
            src.to_str().unwrap(),
            "--ansible-group",
            "prod",
        ],
        "inventory/hosts.ini",
        "prod",
        &[
            "web01",
            "web02",
            "web03",
            "web-canary",
            "db-a",
            "db-b",
            "replica1",
        ],
    );
    // The copy is the file, byte for byte.
    assert_eq!(
        fs::read_to_string(tmp.path().join("fleet/inventory/hosts.ini")).unwrap(),
        INI
    );
}

#[test]
fn init_from_a_yaml_inventory_named_without_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hosts");
    fs::write(
        &src,
        "all:\n  hosts:\n    a.example.com:\n    b.example.com:\n      ansible_port: 2222\n",
    )
    .unwrap();
    init_and_plan(
        tmp.path(),
        &["--from-ansible", src.to_str().unwrap()],
        "inventory/hosts.yaml",
        "servers",
        &["a.example.com", "b.example.com"],
    );
}

#[test]
fn init_from_an_ssh_config() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("config");
    fs::write(&src, "Host *\n  User ops\nHost web-1 web-2\n  HostName %h.example.com\nHost *.example.com\n  Port 2222\n").unwrap();
    init_and_plan(
        tmp.path(),
        &["--from-ssh-config", src.to_str().unwrap()],
        "ssh/config",
        "servers",
        &["web-1", "web-2"],
    );
}

#[test]
fn init_refuses_what_it_cannot_read_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let dir = tmp.path().join("fleet");
    let d = dir.to_str().unwrap();
    let missing = tmp.path().join("nope");
    let out = patchwave(
        &state,
        &["init", d, "--from-ansible", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--from-ansible"), "{}", text(&out));
    assert!(!dir.exists());
    let out = patchwave(&state, &["init", d, "--ansible-group", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!dir.exists());
    let out = patchwave(&state, &["init", d, "--local", "--from-ssh-config", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!dir.exists());
}

/// A second sshd in a test host, on another port (the host's own, its PID 1,
/// stays on 22); stopped by its pid when dropped.
struct ExtraSshd<'a> {
    world: &'a AptWorld,
    host: &'a str,
}

const EXTRA_SSHD_PID: &str = "/run/patchwave-test-sshd.pid";
const EXTRA_SSHD_LOG: &str = "/var/log/patchwave-test-sshd.log";

impl<'a> ExtraSshd<'a> {
    /// Starts it on `port` of the host's address, with the host's key and
    /// the settings of its own sshd; waits (bounded) until it answers.
    fn start(world: &'a AptWorld, host: &'a str, port: u16) -> ExtraSshd<'a> {
        let f = &world.fleet;
        let addr = &f.host(host).address;
        let listen = format!("ListenAddress={addr}:{port}");
        let pid_file = format!("PidFile={EXTRA_SSHD_PID}");
        let mut argv = vec!["/usr/sbin/sshd", "-E", EXTRA_SSHD_LOG];
        for o in [
            "HostKey=/etc/ssh/patchwave_host_ed25519_key",
            &listen,
            &pid_file,
            "PermitRootLogin=prohibit-password",
            "PasswordAuthentication=no",
            "KbdInteractiveAuthentication=no",
            "UsePAM=no",
            "UseDNS=no",
            "StrictModes=no",
        ] {
            argv.extend(["-o", o]);
        }
        // sshd detaches itself; the session ends once it has.
        f.ssh_ok(host, &argv);
        let extra = ExtraSshd { world, host };
        let target: std::net::SocketAddr = format!("{addr}:{port}").parse().unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the second sshd of {host} does not answer on {target}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        extra
    }

    /// What it logged.
    fn log(&self) -> String {
        self.world.fleet.ssh_ok(self.host, &["cat", EXTRA_SSHD_LOG])
    }
}

impl Drop for ExtraSshd<'_> {
    fn drop(&mut self) {
        let f = &self.world.fleet;
        let read = f.ssh(self.host, &["cat", EXTRA_SSHD_PID]);
        let pid = String::from_utf8_lossy(&read.stdout).trim().parse::<u32>();
        let stopped = match pid {
            Ok(pid) if read.status.success() => f
                .ssh(self.host, &["kill", &pid.to_string()])
                .status
                .success(),
            _ => false,
        };
        // When the test failed already, its own message matters more (the
        // fleet's teardown ends the sshd in any case).
        if !std::thread::panicking() {
            assert!(stopped, "could not stop the second sshd of {}", self.host);
        }
    }
}

/// Hosts from an ssh_config in the fleet repository (`hostsFrom: -
/// sshConfig`) are patched like written ones, reached as ssh would reach
/// them from that file: at each entry's `HostName`, on its `Port`, as its
/// `User` — the first value given, wildcard blocks' settings included —
/// over the group's `connection` (which is wrong here on purpose: user
/// `nobody`, port 1). The pattern entries are not hosts, and a concrete host
/// the entry's `hosts` glob leaves out is never reached.
#[test]
fn hosts_from_an_ssh_config_are_reached_as_it_says_and_patched() {
    let w = AptWorld::start(17, 2, &["pw-ssh"]);
    w.apt.publish(SECURITY, &[Deb::new("pw-ssh", "1.1-1")]);
    let f = &w.fleet;
    let (a1, a2) = (&f.host("h1").address, &f.host("h2").address);
    // h2 is reached on 2222 only: its known key is for [address]:2222, so
    // reaching it on 22 fails host-key verification.
    let sshd = ExtraSshd::start(&w, "h2", 2222);
    let known = fs::read_to_string(f.known_hosts()).unwrap();
    let key = |addr: &str| {
        let line = known
            .lines()
            .find(|l| l.split(' ').next() == Some(addr))
            .unwrap_or_else(|| panic!("no key for {addr} in {known}"));
        line.split_once(' ').unwrap().1.to_string()
    };
    let tmp = tempfile::tempdir().unwrap();
    let kh = tmp.path().join("known_hosts");
    fs::write(&kh, format!("{a1} {}\n[{a2}]:2222 {}\n", key(a1), key(a2))).unwrap();

    let dir = tmp.path().join("fleet");
    write(
        &dir,
        "ssh/config",
        &format!(
            "\
# The test fleet, as a user's ssh_config lists it.
Host h1
    HostName {a1}
    User root
    Port 22
Host h2
    HostName {a2}
    Port 2222
Host backup
    HostName 127.0.17.99
Host h*
    User root
    Port 22
Host *
    User nobody
    Port 1
"
        ),
    );
    let group = format!(
        "apiVersion: patchwave.dev/v1
kind: HostGroup
metadata: {{name: ssh}}
spec:
  baseline: b
  rollout: r
  windows: [w]
  connection:
    user: nobody
    port: 1
    identityFile: {id}
    knownHostsFile: {kh}
  hostsFrom:
    - {{sshConfig: ssh/config, hosts: [\"h?\"]}}
",
        id = f.identity().display(),
        kh = kh.display(),
    );
    let docs = [
        "apiVersion: patchwave.dev/v1\nkind: Fleet\nmetadata: {name: t}\nspec: {scan: {refreshAfter: 0s}}\n",
        &group,
        "apiVersion: patchwave.dev/v1\nkind: PatchBaseline\nmetadata: {name: b}\nspec:\n  approvalRules:\n    - {name: security, classifications: [security], packages: [pw-ssh]}\n",
        "apiVersion: patchwave.dev/v1\nkind: RolloutPolicy\nmetadata: {name: r}\nspec: {waves: [\"100%\"]}\n",
        policy::ALWAYS_OPEN_WINDOW,
    ];
    write(&dir, "fleet.yaml", &policy::stream(&docs));

    let state = tmp.path().join("state");
    let d = dir.to_str().unwrap();
    let v = patchwave(&state, &["validate", "--repo", d]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    let out = patchwave(
        &state,
        &["apply", "--repo", d, "--state-dir", state.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for h in ["h1", "h2"] {
        assert_eq!(w.installed(h, "pw-ssh"), "1.1-1", "{h}");
    }
    // The run covered the two hosts: not `h*`, `*`, nor `backup`.
    let runs: Vec<serde_json::Value> = fs::read_dir(state.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&fs::read(p).unwrap()).unwrap())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let mut hosts: Vec<&str> = runs[0]["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hosts"].as_array().unwrap())
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["h1", "h2"], "{}", runs[0]);
    // h2's second sshd let root in: port 2222, user from `Host h*`.
    let log = sshd.log();
    assert!(log.contains("Accepted publickey for root"), "{log}");
}

/// `hostname`, `port` and `user` as `ssh -G` resolves `name` from `config`
/// alone (`-F`: no other file is read; `-G` prints, connecting nowhere).
fn ssh_resolves(config: &Path, name: &str) -> [String; 3] {
    let out = Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args(["-G", "--", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh -G {name}: {}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    ["hostname", "port", "user"].map(|k| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no `{k}` in ssh -G {name}: {stdout}"))
            .to_string()
    })
}

/// Every host an ssh_config gives resolves to what ssh itself resolves for
/// that name (`ssh -G`, the oracle): the first value over the matching
/// blocks in file order, settings before the first `Host`, wildcards,
/// negations, patterns matched with case counted, `%h`, `=` and comments;
/// what the file does not set is ssh's default. (ssh prints the host name
/// in lower case; it resolves the same.)
#[test]
fn an_ssh_config_resolves_as_ssh_resolves_it() {
    let configs = [
        "\
Host Web1 web1 web2
  HostName %h.Example.com
Host web*
  Port 2200
  User web
Host WEB1
  Port 2300
Host db-1 db-2 !db-2
  HostName=10.0.0.5
  User db
Host db-2
  HostName 10.0.0.6
host DB-3
  HOSTNAME 10.0.0.7
  user\ttabbed
Host *.internal
  User internal
Host app.internal # a comment
  Port 2222 # another
Host plain
Host *
  Port 2022
",
        "\
# settings before the first Host are for every host, and come first
User everyone
Host a b
  User a
  Port 2001
Host b
  HostName 192.0.2.2
  Port 2002
Host ?
  HostName %h.example.com
Host c
",
    ];
    for (i, cfg) in configs.iter().enumerate() {
        let tmp = repo(
            &[("all", "  hostsFrom:\n    - sshConfig: ssh/config\n")],
            &[("ssh/config", cfg)],
        );
        let checked = check(&tmp);
        assert!(
            checked.diagnostics.is_empty(),
            "config {i}: {:?}",
            lines(tmp.path(), &checked)
        );
        let file = tmp.path().join("ssh/config");
        let hosts = &checked.repo.group("all").unwrap().spec.hosts;
        assert!(hosts.len() >= 3, "config {i}: {hosts:?}");
        for h in hosts {
            let name = h.name.value.as_str();
            let [host, port, user] = ssh_resolves(Path::new("/dev/null"), name);
            let ours = [
                h.address
                    .as_ref()
                    .map_or(host, |a| a.value.to_ascii_lowercase()),
                h.port.as_ref().map_or(port, |p| p.value.to_string()),
                h.user.as_ref().map_or(user, |u| u.value.clone()),
            ];
            assert_eq!(
                ours,
                ssh_resolves(&file, name),
                "config {i}, host {name}: patchwave vs ssh -G"
            );
        }
    }
}
