//! Rebuilds the peer when the dashboard in `dist/` changes: it is embedded at compile time,
//! and a derive macro alone does not notice files added to or removed from the folder.

fn main() {
    println!("cargo:rerun-if-changed=../dist");
}
