//! Links the unwinder statically on Linux with glibc, as gcc's `-static-libgcc` does for
//! C programs, instead of loading libgcc_s.so.1 at every start.
//!
//! Why: libgcc_s's constructor (`__cpu_indicator_init`) runs `cpuid` a dozen times, and
//! in a virtual machine each one traps to the hypervisor. Measured on a 2-vCPU guest, the
//! library cost ~0.1 ms of a 3 ms `portscope list` (perf: 6 % of its user time), while
//! the unwinder is only used for panic backtraces (release builds abort on panic).
//!
//! How: rustc's std asks for `-lgcc_s`; a file named `libgcc_s.a` in a search directory
//! ahead of the system's (given to the binaries only) is a linker script naming the
//! compiler's `libgcc_eh.a`, so the same `-lgcc_s` links the static unwinder. Nothing is compiled. Where the compiler does
//! not name a libgcc_eh.a (clang with compiler-rt, a cross or static build), nothing
//! changes and libgcc_s.so.1 is linked as before.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || static_crt
        || var("HOST") != var("TARGET")
    {
        return;
    }
    let cc = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Without the file, gcc prints the bare name back.
    if !out.status.success() || !path.is_absolute() || !path.is_file() {
        return;
    }
    let Some(dir) = std::env::var_os("OUT_DIR").map(|d| PathBuf::from(d).join("unwind")) else {
        return;
    };
    // A compiler upgrade that removes this file reruns the script (cargo reruns when a
    // watched file is missing), instead of linking against a script naming nothing.
    println!("cargo:rerun-if-changed={}", path.display());
    let script = format!("INPUT(\"{}\")\n", path.display());
    if std::fs::create_dir_all(&dir).is_ok()
        && std::fs::write(dir.join("libgcc_s.a"), script).is_ok()
    {
        // The binaries only: a search path would reach every crate linking this one
        // (the fuzz crate's libFuzzer brings libgcc_s.so.1 with libstdc++), and ld
        // applies -L to every -l wherever it stands on the command line.
        println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    }
}
