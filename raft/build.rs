//! Compiles `proto/shoal_cluster.proto` into the gRPC client and server code of `shoal_raft::proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/shoal_cluster.proto");
    tonic_prost_build::configure().compile_protos(&["../proto/shoal_cluster.proto"], &["../proto"])?;
    Ok(())
}
