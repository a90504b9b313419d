//! `wasm-split INPUT.wasm OUT_DIR MAIN_JS`: splits the browser bundle at its lazy routes
//! (`#[lazy_route]`) into `OUT_DIR/main.wasm`, the chunks each page loads on first use,
//! their loader `__wasm_split.______________________.js` (the name Leptos asks for),
//! and `__wasm_split_manifest.json`, the chunks each split needs, which the server reads
//! to preload a page's chunks with the page.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, out_dir, main_js] = args.as_slice() else {
        eprintln!("usage: wasm-split INPUT.wasm OUT_DIR MAIN_JS (e.g. ./channelwatch.js)");
        return ExitCode::from(2);
    };
    let wasm = match std::fs::read(input) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("wasm-split: cannot read {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Path::new(out_dir);
    let main_out = out.join("main.wasm");
    let mut opts = wasm_split_cli_support::Options::new(&wasm);
    opts.output_dir = out;
    opts.main_out_path = &main_out;
    opts.main_module = main_js;
    opts.link_name = "./__wasm_split.______________________.js";
    let split = match wasm_split_cli_support::transform(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wasm-split: {e:?}");
            return ExitCode::FAILURE;
        }
    };
    let manifest = match serde_json::to_string(&split.prefetch_map) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("wasm-split: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(out.join("__wasm_split_manifest.json"), manifest) {
        eprintln!("wasm-split: cannot write the manifest: {e}");
        return ExitCode::FAILURE;
    }
    for m in &split.split_modules {
        println!("{}", m.display());
    }
    ExitCode::SUCCESS
}
