import Dispatch
import Repository
import Synchronization

/// Writes a worker's filled buffer on a thread of its own while the worker fills the next
/// one. A write may wait for the device (O_DIRECT, or a streamed file's window behind it);
/// without this the worker's CPU sat idle for every one. One write in flight at a time: the
/// caller alternates between two buffers, and a buffer handed to `write` is not touched until
/// the following `write` or `wait` returns.
final class WriteBehind: Sendable {
    private let queue = DispatchQueue(label: "pgbk.write-behind")
    private let slot = DispatchSemaphore(value: 1)
    /// Written by the queue before it signals `slot`, read after waiting on it.
    private let failure = Mutex<(any Error)?>(nil)

    /// The one unchecked hand-over: a buffer and a file that the caller promises not to touch
    /// until the next `write` or `wait` returns (see above).
    private struct Job: @unchecked Sendable {
        let file: DirectFile
        let bytes: UnsafeRawBufferPointer
        let offset: UInt64
    }

    func write(_ bytes: UnsafeRawBufferPointer, to file: DirectFile, at offset: UInt64) throws {
        slot.wait()
        if let error = failure.withLock({ f in defer { f = nil }; return f }) {
            slot.signal()
            throw error
        }
        let job = Job(file: file, bytes: bytes, offset: offset)
        queue.async {
            do { try job.file.write(job.bytes, at: job.offset) } catch { self.failure.withLock { $0 = error } }
            self.slot.signal()
        }
    }

    /// Waits for the write in flight, if any; rethrows its error.
    func wait() throws {
        slot.wait()
        defer { slot.signal() }
        if let error = failure.withLock({ f in defer { f = nil }; return f }) { throw error }
    }
}
