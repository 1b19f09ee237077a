//! The container image builds and runs what the README's commands build and run: its build
//! stage installs the packages `scripts/install-deps.sh` installs, its runtime stage the
//! libraries they link against and the Whisper model, and it runs as a non-root user with a
//! health check. (No container daemon here: the Dockerfile is checked as text.)

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Every package `install-deps.sh` may install (its `missing+=(...)` lines).
fn install_deps_packages() -> BTreeSet<String> {
    read("scripts/install-deps.sh")
        .lines()
        .filter_map(|l| l.split("missing+=(").nth(1))
        .filter_map(|rest| rest.split(')').next())
        .flat_map(|names| names.split_whitespace().map(str::to_string))
        .collect()
}

/// The packages each stage's `apt-get install` names, stage by stage.
fn dockerfile_stages() -> Vec<(String, BTreeSet<String>)> {
    let text = read("deploy/Dockerfile");
    let mut stages: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(from) = line.strip_prefix("FROM ") {
            stages.push((from.to_string(), BTreeSet::new()));
        }
        if let Some(args) = line.split("apt-get install").nth(1) {
            let packages = args
                .split("&&")
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .filter(|w| !w.starts_with('-') && *w != "\\")
                .map(str::to_string);
            stages.last_mut().expect("a stage").1.extend(packages);
        }
    }
    stages
}

#[test]
fn the_image_builds_with_the_packages_the_scripts_install_and_runs_with_their_libraries() {
    let wanted = install_deps_packages();
    assert!(
        wanted.contains("flite1-dev") && wanted.contains("cmake"),
        "{wanted:?}"
    );
    let stages = dockerfile_stages();
    assert_eq!(stages.len(), 2, "a build and a runtime stage: {stages:?}");
    let (build, runtime) = (&stages[0].1, &stages[1].1);
    assert_eq!(
        build, &wanted,
        "the build stage installs what install-deps.sh does"
    );
    // Each library the build links against, in its runtime form; no build tools at run time.
    for (dev, lib) in [("libopus-dev", "libopus0"), ("flite1-dev", "libflite1")] {
        assert!(wanted.contains(dev), "{dev}");
        assert!(
            runtime.contains(lib),
            "the runtime stage lacks {lib}: {runtime:?}"
        );
    }
    assert!(
        runtime.iter().all(|p| !p.ends_with("-dev") && p != "cmake"),
        "{runtime:?}"
    );
}

#[test]
fn the_image_carries_the_model_runs_unprivileged_and_has_a_health_check() {
    let text = read("deploy/Dockerfile");
    assert!(
        text.contains("callbridge models fetch"),
        "the model is fetched at build time"
    );
    assert!(text.contains("COPY --from=build /opt/callbridge/models /opt/callbridge/models"));
    assert!(text.contains("MODEL_CACHE_DIR=/opt/callbridge/models"));
    let user = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        user.trim().parse::<u32>().is_ok_and(|uid| uid != 0),
        "a numeric non-root user: {user}"
    );
    assert!(text.contains("HEALTHCHECK") && text.contains("/healthz"));
}
