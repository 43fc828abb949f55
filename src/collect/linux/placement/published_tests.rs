//! Unit tests of published ports: argv parsing and engine state in a temporary root.

use super::super::engines::tests_support::temp_dir;
use super::*;
use std::fs;
use std::path::Path;

const ID: &str = "569dfe1f5ddc6f77cc3ebba877df1f11dae33ca977f5898b7e612d9326fe637a";

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn docker_state(roots: &Roots) {
    write(
        &roots.docker.join(format!("containers/{ID}/config.v2.json")),
        r#"{"Name":"/web-1","State":{"Running":true},
            "Config":{"Labels":{}},
            "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2","GlobalIPv6Address":""}},
              "Ports":{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"},{"HostIp":"::","HostPort":"8080"}],
                       "53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}],
                       "443/tcp":null}}}"#,
    );
    // A stopped container with the same address and port is not the one.
    let stopped = ID.replace('5', "4");
    write(
        &roots
            .docker
            .join(format!("containers/{stopped}/config.v2.json")),
        r#"{"Name":"/old","State":{"Running":false},
            "NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2"}},
              "Ports":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}}}"#,
    );
}

#[test]
fn docker_proxy_argv_names_the_backend_and_the_container() {
    let a = argv(
        "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 \
         -container-ip 172.17.0.2 -container-port 80",
    );
    let want = ProxyArgs {
        protocol: Protocol::Tcp,
        host_ip: Some("0.0.0.0".parse().unwrap()),
        host_port: 8080,
        container_ip: "172.17.0.2".parse().unwrap(),
        container_port: 80,
    };
    assert_eq!(parse_proxy_argv(&a), Some(want));
    let eq = argv("rootlesskit-docker-proxy -proto=udp -host-port=53 -container-ip=10.0.0.3 -container-port=5353");
    let p = parse_proxy_argv(&eq).unwrap();
    assert_eq!(
        (p.protocol, p.host_ip, p.host_port, p.container_port),
        (Protocol::Udp, None, 53, 5353)
    );
    assert_eq!(parse_proxy_argv(&argv("nginx -host-port 1")), None);
    assert_eq!(parse_proxy_argv(&argv("docker-proxy -proto tcp")), None);

    let dir = temp_dir("proxy");
    let roots = Roots::under(&dir);
    docker_state(&roots);
    let p = published_backend(&roots, &a, Protocol::Tcp, 8080).unwrap();
    assert_eq!(p.via, PublishedVia::DockerProxy);
    assert_eq!(p.host_ip, None);
    assert_eq!(p.container_ip, Some("172.17.0.2".parse().unwrap()));
    assert_eq!(p.container_port, Some(80));
    let c = p.container.unwrap();
    assert_eq!((c.id.as_str(), c.name.as_deref()), (ID, Some("web-1")));
    // Another port or protocol is not this proxy's.
    assert_eq!(published_backend(&roots, &a, Protocol::Tcp, 8081), None);
    assert_eq!(published_backend(&roots, &a, Protocol::Udp, 8080), None);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn docker_dnat_bindings_from_config_v2() {
    let dir = temp_dir("dnat");
    let roots = Roots::under(&dir);
    docker_state(&roots);
    let got = dnat_published(&roots, 8080, Protocol::Tcp);
    assert_eq!(got.len(), 2, "{got:?}"); // 0.0.0.0 and ::, running container only
    for p in &got {
        assert_eq!(p.via, PublishedVia::Dnat);
        assert_eq!(p.host_ip, None);
        assert_eq!(p.container_port, Some(80));
        assert_eq!(p.container_ip, Some("172.17.0.2".parse().unwrap()));
        assert_eq!(p.container.as_ref().unwrap().name.as_deref(), Some("web-1"));
    }
    let udp = dnat_published(&roots, 5353, Protocol::Udp);
    assert_eq!(udp.len(), 1);
    assert_eq!(udp[0].host_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(udp[0].container_port, Some(53));
    assert!(dnat_published(&roots, 5353, Protocol::Tcp).is_empty());
    assert!(dnat_published(&roots, 443, Protocol::Tcp).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conmon_reservation_names_the_podman_container() {
    let a = argv(&format!(
        "/usr/bin/conmon --api-version 1 -c {ID} -u {ID} -r /usr/bin/runc -n pst1 \
         --exit-command-arg --cgroup-manager --exit-command-arg cgroupfs"
    ));
    assert_eq!(
        parse_conmon_argv(&a),
        Some((ID.to_string(), Some("pst1".to_string())))
    );
    assert_eq!(
        parse_conmon_argv(&argv(&format!("conmon --cid={ID}"))),
        Some((ID.to_string(), None))
    );
    assert_eq!(parse_conmon_argv(&argv("conmon -u x")), None);

    let dir = temp_dir("conmon");
    let roots = Roots::under(&dir);
    // The bolt database: binary pages around the JSON value, an older container first.
    let other = ID.replace('5', "3");
    let mut db = b"\x00\x01bolt\x00config".to_vec();
    db.extend_from_slice(format!(r#"{{"spec":{{"x":1}},"id":"{other}","newPortMappings":[{{"host_port":18081,"container_port":1}}]}}"#).as_bytes());
    db.extend_from_slice(b"\x00\x00\xffconfig");
    db.extend_from_slice(format!(r#"{{"spec":{{"ociVersion":"1.0.2-dev"}},"id":"{ID}","name":"pst1","newPortMappings":[{{"host_ip":"127.0.0.1","container_port":80,"host_port":18081,"range":1,"protocol":"tcp"}},{{"container_port":9000,"host_port":19000,"range":3,"protocol":"tcp,udp"}}]}}"#).as_bytes());
    db.extend_from_slice(b"\x00\x07trailing");
    fs::create_dir_all(roots.containers_storage.join("libpod")).unwrap();
    fs::write(roots.containers_storage.join("libpod/bolt_state.db"), db).unwrap();
    write(
        &roots
            .containers_run
            .join(format!("overlay-containers/{ID}/userdata/hosts")),
        &format!(
            "127.0.0.1\tlocalhost\n10.88.0.1\thost.containers.internal\n10.88.0.3\t{} pst1\n",
            &ID[..12]
        ),
    );
    // The name comes from podman's own state, never from conmon's argv.
    write(
        &roots
            .containers_storage
            .join("overlay-containers/containers.json"),
        &format!(r#"[{{"id":"{ID}","names":["pst1"]}}]"#),
    );
    let spoofed = argv(&format!("conmon -c {ID} -n payments-api"));
    let p = published_backend(&roots, &spoofed, Protocol::Tcp, 18081).unwrap();
    assert_eq!(p.container.unwrap().name.as_deref(), Some("pst1"));
    // An id podman does not know, or one that is no id at all, is not followed.
    let unknown = argv(&format!("conmon -c {} -n pst1", ID.replace('5', "4")));
    assert_eq!(
        published_backend(&roots, &unknown, Protocol::Tcp, 18081),
        None
    );
    assert_eq!(parse_conmon_argv(&argv("conmon -c /tmp/pq\u{20ac}")), None);
    assert_eq!(parse_conmon_argv(&argv("conmon -c ../../etc")), None);
    let p = published_backend(&roots, &a, Protocol::Tcp, 18081).unwrap();
    assert_eq!(p.via, PublishedVia::Conmon);
    assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(p.container_port, Some(80));
    assert_eq!(p.container_ip, Some("10.88.0.3".parse().unwrap()));
    let c = p.container.unwrap();
    assert_eq!(
        (c.runtime.as_str(), c.id.as_str(), c.name.as_deref()),
        ("podman", ID, Some("pst1"))
    );
    // A port range: 19002 is the third port, for udp as well.
    let p = published_backend(&roots, &a, Protocol::Udp, 19002).unwrap();
    assert_eq!(p.container_port, Some(9002));
    // A port no mapping names: the container still, its port unknown.
    let p = published_backend(&roots, &a, Protocol::Tcp, 19003).unwrap();
    assert_eq!(p.container_port, None);
    assert_eq!(p.container.unwrap().name.as_deref(), Some("pst1"));
    fs::remove_dir_all(&dir).unwrap();
}

/// docker 20.10 without its proxy: dockerd itself holds the host port (a reservation), and
/// the container is the running one whose state publishes that port.
#[test]
fn dockerd_holding_a_port_leads_to_the_container_that_publishes_it() {
    let dir = temp_dir("dockerd");
    let roots = Roots::under(&dir);
    docker_state(&roots);
    let a = argv("/usr/sbin/dockerd -H fd:// --userland-proxy=false");
    let p = published_backend(&roots, &a, Protocol::Tcp, 8080).unwrap();
    assert_eq!(p.via, PublishedVia::Dockerd);
    assert_eq!(p.container_port, Some(80));
    assert_eq!(p.container_ip, Some("172.17.0.2".parse().unwrap()));
    let c = p.container.unwrap();
    assert_eq!((c.id.as_str(), c.name.as_deref()), (ID, Some("web-1")));
    // A port dockerd holds that no running container publishes (its API, say) is not one.
    assert_eq!(published_backend(&roots, &a, Protocol::Tcp, 2375), None);
    assert_eq!(published_backend(&roots, &a, Protocol::Udp, 8080), None);
    fs::remove_dir_all(&dir).unwrap();
}
