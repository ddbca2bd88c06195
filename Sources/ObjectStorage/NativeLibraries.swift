import CObjectStoreLoader

/// libcurl, libcrypto and libxml2 are loaded on first use (see CObjectStoreLoader.h).
enum NativeLibraries {
    static func load() throws(S3Error) {
        if let message = pgbk_objectstore_load() {
            throw S3Error.setup(String(cString: message))
        }
    }
}
