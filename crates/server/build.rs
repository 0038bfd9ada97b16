//! Installs the front-end libraries pinned by web/package-lock.json (with `npm ci`, from the
//! npm registry) when they are missing, and copies the files the pages use into OUT_DIR so
//! that they are built into the binary: the pages load nothing from a CDN.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (file inside web/node_modules, name served under /static/vendor/).
const VENDOR: &[(&str, &str)] = &[
    ("echarts/dist/echarts.min.js", "echarts.min.js"),
    ("htmx.org/dist/htmx.min.js", "htmx.min.js"),
];

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("vendor");
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package-lock.json").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        web.join("package.json").display()
    );
    let modules = web.join("node_modules");
    if VENDOR.iter().any(|(f, _)| !modules.join(f).exists()) {
        npm_ci(&web);
    }
    std::fs::create_dir_all(&out).expect("create OUT_DIR/vendor");
    for (from, to) in VENDOR {
        let src = modules.join(from);
        println!("cargo:rerun-if-changed={}", src.display());
        std::fs::copy(&src, out.join(to)).unwrap_or_else(|e| {
            panic!(
                "copy {} into the build: {e}; run `npm ci` in web/",
                src.display()
            )
        });
    }
}

fn npm_ci(web: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(web)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`npm ci` in {} failed ({s}); the web assets need the npm registry once", web.display()),
        Err(e) => panic!(
            "could not run npm ({e}): linli embeds ECharts and htmx from the npm registry; install Node.js and npm, then build again"
        ),
    }
}
