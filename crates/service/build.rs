//! Embeds the in-browser check (web/pkg/, built by scripts/build-wasm.sh; issue 15)
//! when it is there: `OUT_DIR/wasm_assets.rs` lists its files for the console's asset
//! table (src/console.rs), or nothing — then the console says how to build it.

use std::path::Path;

/// The files wasm-bindgen makes for crates/wasm, below web/.
const FILES: [&str; 2] = ["pkg/imgport_wasm.js", "pkg/imgport_wasm_bg.wasm"];

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    println!("cargo:rerun-if-changed={}", web.join("pkg").display());
    for f in FILES {
        println!("cargo:rerun-if-changed={}", web.join(f).display());
    }
    let all_there = FILES.iter().all(|f| web.join(f).is_file());
    let mut out = String::from("&[\n");
    if all_there {
        for f in FILES {
            let path = web.join(f).canonicalize().expect("web/pkg file");
            out.push_str(&format!(
                "    Asset {{ path: {f:?}, body: include_bytes!({:?}) }},\n",
                path.display().to_string()
            ));
        }
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("wasm_assets.rs");
    std::fs::write(dest, out).expect("write wasm_assets.rs");
}
