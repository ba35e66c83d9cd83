//! Compiles the `.proto` files under `shoal/` into gRPC client and server code.

const PROTOS: [&str; 2] = ["shoal/raft/v1/raft.proto", "shoal/cluster/v1/cluster.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure().compile_protos(&PROTOS, &["."])?;
    Ok(())
}
