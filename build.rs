// Records the cargo profile so `trex._trex.build_profile` can tell a debug build from a release
// one (`trex bench` refuses to time a debug build).
fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=TREX_BUILD_PROFILE={profile}");
    println!("cargo:rerun-if-changed=build.rs");
}
