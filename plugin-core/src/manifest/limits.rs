//! Defaults and accepted ranges for every manifest setting: the one place
//! they are written down.

use std::time::Duration;

use plugin_types::ByteSize;

/// Default `wasm.permissions.execution.timeout`: 30 seconds a call.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Accepted `wasm.permissions.execution.timeout`: more than 0, at most 24 hours.
pub const MAX_EXECUTION_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Default `grpc.timeouts.start`: 10 seconds for the handshake, the health
/// check and `Init`.
pub const DEFAULT_GRPC_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `grpc.timeouts.start`: 10 minutes.
pub const MAX_GRPC_START_TIMEOUT: Duration = Duration::from_secs(600);
/// Default `grpc.timeouts.call`: 30 seconds a call (its range is that of
/// `wasm.permissions.execution.timeout`).
pub const DEFAULT_GRPC_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `grpc.timeouts.shutdown`: 2 seconds between asking a plugin to
/// exit and killing it.
pub const DEFAULT_GRPC_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `grpc.timeouts.shutdown`: 1 minute.
pub const MAX_GRPC_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Default `wasm.permissions.memory.max`: 64 MiB of linear memory.
pub const DEFAULT_MEMORY_MAX: ByteSize = ByteSize::mib(64);
/// Smallest `wasm.permissions.memory.max`: one 64 KiB wasm page.
pub const MIN_MEMORY_MAX: ByteSize = ByteSize::kib(64);
/// Largest `wasm.permissions.memory.max`: 4 GiB, all a wasm32 module can address.
pub const MAX_MEMORY_MAX: ByteSize = ByteSize::gib(4);

/// Default `wasm.pool.max_instances`.
pub const DEFAULT_POOL_MAX_INSTANCES: u32 = 4;
/// Largest `wasm.pool.max_instances` (the smallest is 1).
pub const MAX_POOL_MAX_INSTANCES: u32 = 1024;

/// Default `wasm.pool.wait_timeout`: how long a call waits for a free instance.
pub const DEFAULT_POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest `wasm.pool.wait_timeout` (0 means "do not wait").
pub const MAX_POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Default `grpc.permissions.memory.max`: 1 GiB for a plugin process.
pub const DEFAULT_PROCESS_MEMORY_MAX: ByteSize = ByteSize::gib(1);
/// Smallest `grpc.permissions.memory.max`: 16 MiB (less does not start a
/// program).
pub const MIN_PROCESS_MEMORY_MAX: ByteSize = ByteSize::mib(16);
/// The ceiling a host grants for `grpc.permissions.memory.max` unless its
/// policy says otherwise.
pub const MAX_PROCESS_MEMORY_MAX: ByteSize = ByteSize::gib(4);

/// Default `grpc.permissions.processes`: processes and threads together.
pub const DEFAULT_PROCESSES: u32 = 256;
/// Largest `grpc.permissions.processes` (also the ceiling a host grants
/// unless its policy says otherwise).
pub const MAX_PROCESSES: u32 = 4096;

/// Longest plugin name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Default `max_artifact_size` of the host's permission policy: the largest
/// `wasm.module` or `grpc.binary` the host reads (256 MiB; a Python
/// component is some 40 MiB, a large statically linked binary some 100).
pub const DEFAULT_MAX_ARTIFACT_SIZE: ByteSize = ByteSize::mib(256);
