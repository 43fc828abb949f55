//! Unit tests of the engine lookups over state files in a temporary root.

use super::tests_support::temp_dir;
use super::*;
use std::fs;

const ID: &str = "569dfe1f5ddc6f77cc3ebba877df1f11dae33ca977f5898b7e612d9326fe637a";
const UID: &str = "0c5a3c1e-6a3e-4c2b-9d0f-2b1e8a7c4d21";

fn r(runtime: &str, id: &str, pod: Option<&str>) -> ContainerRef {
    ContainerRef {
        runtime: runtime.into(),
        id: id.into(),
        pod_uid: pod.map(Into::into),
        delegated: false,
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[test]
fn docker_name_without_slash_and_compose_labels() {
    let dir = temp_dir("docker");
    let roots = Roots::under(&dir);
    write(
        &roots.docker.join(format!("containers/{ID}/config.v2.json")),
        r#"{"ID":"x","Name":"/shop-web-1","Config":{"Labels":{
            "com.docker.compose.project":"shop","com.docker.compose.service":"web"}}}"#,
    );
    let c = resolve(&roots, &r("docker", ID, None));
    assert_eq!(
        c,
        Container {
            runtime: "docker".into(),
            id: ID.into(),
            name: Some("shop-web-1".into()),
            pod: None,
            compose: Some(Compose {
                project: "shop".into(),
                service: "web".into()
            }),
        }
    );
    // No state: the id alone.
    let other = ID.replace('5', "7");
    let c = resolve(&roots, &r("docker", &other, None));
    assert_eq!((c.name, c.compose), (None, None));
    // Broken JSON is no name, not a failure.
    write(
        &roots
            .docker
            .join(format!("containers/{other}/config.v2.json")),
        "{not json",
    );
    assert_eq!(resolve(&roots, &r("docker", &other, None)).name, None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn podman_names_from_containers_json() {
    let dir = temp_dir("podman");
    let roots = Roots::under(&dir);
    write(
        &roots
            .containers_storage
            .join("overlay-containers/containers.json"),
        &format!(
            r#"[{{"id":"{}","names":["other"]}},{{"id":"{ID}","names":["pst1","alias"],"image":"x"}}]"#,
            ID.replace('5', "8")
        ),
    );
    assert_eq!(
        resolve(&roots, &r("podman", ID, None)).name.as_deref(),
        Some("pst1")
    );
    assert_eq!(
        resolve(&roots, &r("podman", &ID.replace('5', "9"), None)).name,
        None
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kubelet_pod_and_container_from_log_directories() {
    let dir = temp_dir("kube");
    let roots = Roots::under(&dir);
    write(
        &roots
            .log_pods
            .join(format!("shop_web-7d9f8-abcde_{UID}/nginx/0.log")),
        "",
    );
    write(
        &roots
            .log_containers
            .join(format!("web-7d9f8-abcde_shop_nginx-{ID}.log")),
        "",
    );
    let pod = Pod {
        namespace: "shop".into(),
        name: "web-7d9f8-abcde".into(),
        uid: UID.into(),
    };
    let c = resolve(&roots, &r("containerd", ID, Some(UID)));
    assert_eq!(c.name.as_deref(), Some("nginx"));
    assert_eq!(c.pod.as_ref(), Some(&pod));
    assert_eq!(c.runtime, "containerd");
    // The pause container: no log of its own, the pod still.
    let pause = ID.replace('5', "a");
    let c = resolve(&roots, &r("cri-o", &pause, Some(UID)));
    assert_eq!((c.name, c.pod), (None, Some(pod)));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn machines_lxc_and_unknown_runtimes() {
    let dir = temp_dir("machines");
    let roots = Roots::under(&dir);
    write(
        &roots.machines.join("box"),
        "NAME=box\nSCOPE=machine-box.scope\nSERVICE=systemd-nspawn\nCLASS=container\n",
    );
    write(
        &roots.machines.join("qemu-1-vm"),
        "NAME=qemu-1-vm\nSERVICE=libvirt-qemu\nCLASS=vm\n",
    );
    let c = resolve(&roots, &r("nspawn", "box", None));
    assert_eq!(
        (c.runtime.as_str(), c.name.as_deref()),
        ("nspawn", Some("box"))
    );
    let c = resolve(&roots, &r("nspawn", "qemu-1-vm", None));
    assert_eq!(
        (c.runtime.as_str(), c.name.as_deref()),
        ("libvirt-qemu", Some("qemu-1-vm"))
    );
    assert_eq!(resolve(&roots, &r("nspawn", "gone", None)).name, None);
    assert_eq!(
        resolve(&roots, &r("lxc", "web1", None)).name.as_deref(),
        Some("web1")
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// A dockerd with its state elsewhere (`--data-root`, daemon.json): its containers are
/// named from there. A dockerd not run by root is not believed.
#[test]
fn docker_state_is_read_from_every_data_root_a_root_dockerd_names() {
    let dir = temp_dir("dataroot");
    let roots = Roots::under(&dir);
    let proc_of = |pid: u32, uid: u32, cmdline: &str| {
        let d = roots.proc.join(pid.to_string());
        write(&d.join("comm"), "dockerd\n");
        write(
            &d.join("status"),
            &format!("Name:\tdockerd\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
        );
        write(&d.join("cmdline"), &cmdline.replace(' ', "\0"));
    };
    proc_of(10, 0, "/usr/sbin/dockerd --data-root /srv/docker -H fd:// ");
    proc_of(11, 0, "dockerd --data-root=/data/d2");
    proc_of(12, 1000, "dockerd --data-root /home/eve/fake");
    write(&roots.docker_daemon_json, r#"{"data-root":"/mnt/docker"}"#);
    // The default, daemon.json's, then each dockerd's (in /proc's order).
    let mut got = roots.docker_roots().to_vec();
    got[2..].sort();
    let want: Vec<PathBuf> = vec![
        roots.docker.clone(),
        "/mnt/docker".into(),
        "/data/d2".into(),
        "/srv/docker".into(),
    ];
    assert_eq!(got, want);

    // A container under a non-default root is resolved by name.
    let other = temp_dir("dataroot-state");
    let mut roots = Roots::under(&dir);
    std::fs::remove_dir_all(roots.proc.join("11")).unwrap();
    std::fs::remove_dir_all(roots.proc.join("10")).unwrap();
    proc_of(10, 0, &format!("dockerd --data-root {}", other.display()));
    roots.docker = dir.join("nothing-here");
    write(
        &other.join(format!("containers/{ID}/config.v2.json")),
        r#"{"Name":"/elsewhere","Config":{"Labels":{}}}"#,
    );
    let c = resolve(&roots, &r("docker", ID, None));
    assert_eq!(c.name.as_deref(), Some("elsewhere"));
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&other).unwrap();
}
