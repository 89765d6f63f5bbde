//! Fixture loading: examples load, bad input is located with a help line.

use runbook::sandbox::Fixture;

use super::common::example;

#[test]
fn every_example_fixture_loads() {
    for entry in std::fs::read_dir(example("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            Fixture::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}

#[test]
fn unknown_key_is_located_with_help() {
    let text = "cluster:\n  name: x\n  version: \"1.28\"\n  regoin: us-east-1\n";
    let err = Fixture::from_yaml("bad.yaml", text).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("bad.yaml:4:3"), "{err}");
    let rendered = err.render(false);
    assert!(rendered.contains("unknown field `regoin`"), "{rendered}");
    assert!(
        rendered.contains("help:") && rendered.contains("region"),
        "{rendered}"
    );
}

#[test]
fn bad_version_points_at_the_value_line() {
    let text = "cluster:\n  name: x\n  version: \"1.35\"\n";
    let err = Fixture::from_yaml("v.yaml", text).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("v.yaml:3:3"), "{err}");
    assert!(
        err.to_string()
            .contains("unsupported cluster version `1.35`")
    );
    assert!(err.diagnostic.help.as_deref().unwrap().contains("1.28"));
}

#[test]
fn nodegroup_newer_than_control_plane_is_rejected() {
    let text = "cluster: {name: x, version: \"1.28\"}\nnodegroups:\n  - name: a\n    version: \"1.29\"\n    minSize: 1\n    maxSize: 2\n    desiredSize: 1\n";
    let err = Fixture::from_yaml("ng.yaml", text).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("ng.yaml:4:5"), "{err}");
    assert!(err.to_string().contains("newer than the control plane"));
}

#[test]
fn unknown_addon_version_names_known_ones() {
    let text = "cluster: {name: x, version: \"1.28\"}\naddons:\n  coredns: v9.9.9\n";
    let err = Fixture::from_yaml("a.yaml", text).unwrap_err();
    assert_eq!(err.location().as_deref(), Some("a.yaml:3:3"), "{err}");
    assert!(
        err.diagnostic
            .help
            .as_deref()
            .unwrap()
            .contains("v1.10.1-eksbuild.17")
    );
}

#[test]
fn generated_fixture_has_requested_scale() {
    let f = Fixture::generated(100, 3000);
    let nodes: u32 = f.spec.nodegroups.iter().map(|n| n.desired_size).sum();
    assert_eq!(nodes, 100);
    let pods: u32 = f
        .spec
        .workloads
        .deployments
        .iter()
        .map(|d| d.replicas)
        .sum();
    assert_eq!(pods + 3 * 100 + 2, 3000);
}
