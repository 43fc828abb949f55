//! Unit tests of the cgroup stage: every runtime's layout on literal paths.

use super::*;

const ID: &str = "569dfe1f5ddc6f77cc3ebba877df1f11dae33ca977f5898b7e612d9326fe637a";
const UID: &str = "0c5a3c1e-6a3e-4c2b-9d0f-2b1e8a7c4d21";

fn placed(runtime: &str, id: &str, pod: Option<&str>, unit: Option<&str>) -> Placement {
    Placement {
        container: Some(ContainerRef {
            runtime: runtime.into(),
            id: id.into(),
            pod_uid: pod.map(Into::into),
            delegated: false,
        }),
        unit: unit.map(Into::into),
    }
}

fn unit_only(unit: Option<&str>) -> Placement {
    Placement {
        container: None,
        unit: unit.map(Into::into),
    }
}

#[test]
fn docker_systemd_and_cgroupfs_layouts() {
    let scope = format!("docker-{ID}.scope");
    assert_eq!(
        classify(&format!("/system.slice/{scope}")),
        placed("docker", ID, None, Some(&scope))
    );
    assert_eq!(
        classify(&format!("/docker/{ID}")),
        placed("docker", ID, None, None)
    );
    // docker-in-docker: the host's engine knows the outer one.
    let inner = ID.replace('5', "6");
    assert_eq!(
        classify(&format!("/docker/{ID}/docker/{inner}")),
        placed("docker", ID, None, None)
    );
    // A short or non-hex id is not a container.
    assert_eq!(classify("/docker/abc123"), unit_only(None));
    assert_eq!(
        classify("/system.slice/docker.service"),
        unit_only(Some("docker.service"))
    );
}

#[test]
fn podman_layouts_and_conmon_is_not_the_container() {
    // cgroupfs manager (no systemd), as podman runs on this machine kind.
    assert_eq!(
        classify(&format!("/libpod_parent/libpod-{ID}")),
        placed("podman", ID, None, None)
    );
    assert_eq!(classify("/libpod_parent/conmon"), unit_only(None));
    // systemd manager, with and without the split `container` child.
    let scope = format!("libpod-{ID}.scope");
    assert_eq!(
        classify(&format!("/machine.slice/{scope}")),
        placed("podman", ID, None, Some(&scope))
    );
    assert_eq!(
        classify(&format!("/machine.slice/{scope}/container")),
        placed("podman", ID, None, Some(&scope))
    );
    let conmon = format!("libpod-conmon-{ID}.scope");
    assert_eq!(
        classify(&format!("/machine.slice/{conmon}")),
        unit_only(Some(&conmon))
    );
    // A podman pod's slice, and rootless podman under the user's manager.
    assert_eq!(
        classify(&format!(
            "/machine.slice/machine-libpod_pod_{ID}.slice/{scope}"
        )),
        placed("podman", ID, None, Some(&scope))
    );
    // Below a user's delegated subtree the user made the cgroup: marked, so the id (which
    // could be a real container's) is not looked up.
    let mut rootless = placed("podman", ID, None, Some(&scope));
    if let Some(c) = rootless.container.as_mut() {
        c.delegated = true;
    }
    assert_eq!(
        classify(&format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/{scope}"
        )),
        rootless
    );
}

#[test]
fn kubernetes_containerd_and_crio_with_pods() {
    let pod_slice = format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_"));
    let scope = format!("cri-containerd-{ID}.scope");
    assert_eq!(
        classify(&format!(
            "/kubepods.slice/kubepods-burstable.slice/{pod_slice}/{scope}"
        )),
        placed("containerd", ID, Some(UID), Some(&scope))
    );
    // Guaranteed QoS has no QoS level.
    let pod_slice = format!("kubepods-pod{}.slice", UID.replace('-', "_"));
    let scope = format!("crio-{ID}.scope");
    assert_eq!(
        classify(&format!("/kubepods.slice/{pod_slice}/{scope}")),
        placed("cri-o", ID, Some(UID), Some(&scope))
    );
    assert_eq!(
        classify(&format!(
            "/kubepods.slice/{pod_slice}/crio-conmon-{ID}.scope"
        )),
        unit_only(Some(&format!("crio-conmon-{ID}.scope")))
    );
    // cgroupfs driver: /kubepods/QOS/pod<UID>/<ID> (containerd) or crio-<ID>.
    assert_eq!(
        classify(&format!("/kubepods/besteffort/pod{UID}/{ID}")),
        placed("containerd", ID, Some(UID), None)
    );
    assert_eq!(
        classify(&format!("/kubepods/burstable/pod{UID}/crio-{ID}")),
        placed("cri-o", ID, Some(UID), None)
    );
    // A bare id outside a pod names nothing.
    assert_eq!(classify(&format!("/other/{ID}")), unit_only(None));
}

#[test]
fn lxc_incus_and_nspawn() {
    assert_eq!(
        classify("/lxc.payload.web1/system.slice/nginx.service"),
        placed("lxc", "web1", None, None)
    );
    assert_eq!(classify("/lxc.monitor.web1"), unit_only(None));
    assert_eq!(
        classify("/lxc.payload/old1"),
        placed("lxc", "old1", None, None)
    );
    // docker inside LXC is, from the host, the LXC container.
    assert_eq!(
        classify(&format!("/lxc.payload.c1/system.slice/docker-{ID}.scope")),
        placed("lxc", "c1", None, None)
    );
    assert_eq!(
        classify("/machine.slice/machine-my\\x2dbox.scope/payload/system.slice/sshd.service"),
        placed("nspawn", "my-box", None, Some("machine-my\\x2dbox.scope"))
    );
    assert_eq!(
        classify("/machine.slice/systemd-nspawn@box.service"),
        unit_only(Some("systemd-nspawn@box.service"))
    );
}

#[test]
fn systemd_units_named_as_such() {
    assert_eq!(classify("/"), unit_only(None));
    assert_eq!(classify(""), unit_only(None));
    assert_eq!(classify("/init.scope"), unit_only(Some("init.scope")));
    assert_eq!(
        classify("/system.slice/nginx.service"),
        unit_only(Some("nginx.service"))
    );
    // A user manager itself, a user service under it, a login session.
    assert_eq!(
        classify("/user.slice/user-1000.slice/user@1000.service/init.scope"),
        unit_only(Some("user@1000.service"))
    );
    assert_eq!(
        classify("/user.slice/user-1000.slice/user@1000.service/app.slice/syncthing.service"),
        unit_only(Some("syncthing.service"))
    );
    assert_eq!(
        classify("/user.slice/user-1000.slice/session-3.scope"),
        unit_only(Some("session-3.scope"))
    );
    // A delegated subtree below a service keeps the service.
    assert_eq!(
        classify("/system.slice/containerd.service/worker"),
        unit_only(Some("containerd.service"))
    );
    assert_eq!(
        classify("/system.slice/nginx.service (deleted)"),
        unit_only(Some("nginx.service"))
    );
}

#[test]
fn mountinfo_finds_cgroup2_wherever_it_is_mounted() {
    let dir = crate::collect::linux::placement::engines::tests_support::temp_dir("mountinfo");
    std::fs::create_dir_all(dir.join("self")).unwrap();
    std::fs::write(
        dir.join("self/mountinfo"),
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
         32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
         41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n",
    )
    .unwrap();
    assert_eq!(
        cgroup2_mount(&dir),
        Some(PathBuf::from("/sys/fs/cgroup/uni fied"))
    );
    std::fs::write(
        dir.join("self/mountinfo"),
        "31 23 0:28 / /x rw - tmpfs tmpfs rw\n",
    )
    .unwrap();
    assert_eq!(cgroup2_mount(&dir), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cgroup_of_reads_the_v2_line_and_placement_falls_back_to_v1() {
    let dir = crate::collect::linux::placement::engines::tests_support::temp_dir("pidcg");
    let roots = Roots {
        proc: dir.clone(),
        ..Roots::under(&dir)
    };
    std::fs::create_dir_all(dir.join("42")).unwrap();
    std::fs::write(
        dir.join("42/cgroup"),
        format!("9:name=systemd:/\n8:pids:/libpod_parent/conmon\n0::/libpod_parent/libpod-{ID}\n"),
    )
    .unwrap();
    assert_eq!(
        cgroup_of(&roots, 42).as_deref(),
        Some(format!("/libpod_parent/libpod-{ID}").as_str())
    );
    assert_eq!(
        placement_of(&roots, 42),
        Some(placed("podman", ID, None, None))
    );
    // A v1-only host: no 0:: line; name=systemd carries the docker scope.
    std::fs::write(
        dir.join("42/cgroup"),
        format!("9:name=systemd:/system.slice/docker-{ID}.scope\n4:memory:/x\n"),
    )
    .unwrap();
    assert_eq!(cgroup_of(&roots, 42), None);
    let scope = format!("docker-{ID}.scope");
    assert_eq!(
        placement_of(&roots, 42),
        Some(placed("docker", ID, None, Some(&scope)))
    );
    assert_eq!(cgroup_of(&roots, 43), None);
    assert_eq!(placement_of(&roots, 43), None);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A user can name a delegated cgroup anything: "\x" before a multi-byte character must
/// not split it (it panicked: byte index is not a char boundary).
#[test]
fn cgroup_unit_escape_before_a_multibyte_character_does_not_panic() {
    let p = classify("/machine.slice/machine-\\x\u{20ac}.scope");
    assert_eq!(p.container.map(|c| c.id), Some("\\x\u{20ac}".to_string()));
    let p = classify("/machine.slice/machine-a\\x2db.scope");
    assert_eq!(p.container.map(|c| c.id), Some("a-b".to_string()));
}
