// `landscribe model fetch ID`: downloads a model's files from a Hugging Face hub into the cache.
//
// Resumable: bytes go to `<file>.partial` in a staging folder whose name is stable per id and
// revision (`<root>/models/owner--name/.tmp-<revision>/`), so a re-run finds it and asks for
// the rest with `Range: bytes=N-` (and `If-Range`, so a file that changed restarts).
// Atomic: the staging folder is renamed to `<revision>/` only when every file is complete.

public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a fetch stands, reported as bytes arrive (and once when a file starts or is skipped).
public struct DownloadProgress: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    /// Bytes of `file` on disk, including those kept from an earlier, interrupted run.
    public let bytesDone: Int64
    /// The file's size when the hub announced it.
    public let bytesTotal: Int64?
    /// 0-based position of `file` among the files of this fetch.
    public let fileIndex: Int
    public let fileCount: Int

    public init(file: String, bytesDone: Int64, bytesTotal: Int64?, fileIndex: Int, fileCount: Int) {
        self.file = file
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.fileIndex = fileIndex
        self.fileCount = fileCount
    }

    /// A progress line: `[4/4] model.safetensors  45.2 MB / 598.6 MB  (7%)`.
    public var description: String {
        let head = "[\(fileIndex + 1)/\(fileCount)] \(file)  \(DownloadProgress.format(bytesDone))"
        guard let total = bytesTotal, total > 0 else { return head }
        let percent = Int(Double(bytesDone) / Double(total) * 100)
        return head + " / \(DownloadProgress.format(total))  (\(percent)%)"
    }

    static func format(_ bytes: Int64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB", "TB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: "%.1f %@", value, units[unit])
    }
}

/// Downloads the files of a model into a `ModelStore`.
public struct ModelDownloader: Sendable {
    public static let defaultHubURL = URL(string: "https://huggingface.co")!
    /// Small files first, so a wrong id or revision fails before the weights.
    public static let defaultFiles = ["config.json", "vocab.json", "merges.txt", "model.safetensors"]

    public let store: ModelStore
    /// Files come from `{hubURL}/{id}/resolve/{revision}/{file}`.
    public let hubURL: URL
    public let files: [String]
    /// Seconds without a byte before a transfer fails.
    public let timeout: TimeInterval
    /// An access token for gated or private models, sent as `Authorization: Bearer ...` to the
    /// hub (not to another host a file is redirected to). Kept in memory only: never written,
    /// never part of a message.
    private let token: String?

    public init(store: ModelStore, hubURL: URL = defaultHubURL, files: [String] = defaultFiles, timeout: TimeInterval = 60,
                token: String? = nil) {
        self.store = store
        self.hubURL = hubURL
        self.files = files
        self.timeout = timeout
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The access token in `HF_TOKEN` (the hub's own variable), nil when unset or empty.
    public static func token(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let value = environment["HF_TOKEN"]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    /// The hub from `LANDSCRIBE_HUB_URL`, else https://huggingface.co; a value that is not an
    /// http(s) address with a host is an error, never a silent fall-back to the public hub.
    public static func hubURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        guard let value = environment["LANDSCRIBE_HUB_URL"], !value.isEmpty else { return defaultHubURL }
        guard let url = URL(string: value), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), !(url.host ?? "").isEmpty else {
            throw ModelStoreError.invalidHubURL(value)
        }
        return url
    }

    /// `{hubURL}/{owner}/{name}/resolve/{revision}/{file}`.
    public func url(for id: ModelID, revision: String, file: String) -> URL {
        hubURL.appendingPathComponent(id.owner).appendingPathComponent(id.name)
            .appendingPathComponent("resolve").appendingPathComponent(revision).appendingPathComponent(file)
    }

    /// Downloads `id` at `revision` unless it is already cached, and returns its cache folder.
    /// Throws `ModelStoreError`; after `.interrupted` a second call resumes where this one stopped.
    public func fetch(
        _ id: ModelID,
        revision: String = ModelStore.defaultRevision,
        progress: @escaping @Sendable (DownloadProgress) -> Void = { _ in }
    ) async throws -> URL {
        let final = try store.directory(for: id, revision: revision)
        if ModelStore.isDirectory(final) { return try finished(final) }

        let modelDirectory = store.modelDirectory(for: id)
        try ModelDownloader.io(modelDirectory) {
            try FileManager.default.createDirectory(at: modelDirectory, withIntermediateDirectories: true)
        }
        // A failed fetch leaves no empty model folder (rmdir removes only an empty one), after the lock is gone.
        var fetched = false
        defer { if !fetched { rmdir(modelDirectory.path) } }
        let lock = try FileLock(modelDirectory.appendingPathComponent(".tmp-\(revision).lock"), id: id, revision: revision)
        defer { lock.unlock() }
        // Another process may have finished while this one waited for nothing: look again.
        if ModelStore.isDirectory(final) { return try finished(final) }

        let staging = modelDirectory.appendingPathComponent(".tmp-\(revision)", isDirectory: true)
        try ModelDownloader.io(staging) {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        }
        do {
            for (index, file) in files.enumerated() {
                let transfer = FileTransfer(
                    id: id, revision: revision, file: file, source: url(for: id, revision: revision, file: file),
                    staging: staging, timeout: timeout, token: token,
                    page: hubURL.appendingPathComponent(id.owner).appendingPathComponent(id.name).absoluteString
                ) { done, total in
                    progress(DownloadProgress(file: file, bytesDone: done, bytesTotal: total, fileIndex: index, fileCount: files.count))
                }
                try await transfer.run()
            }
        } catch let error as ModelStoreError {
            // The hub said this model or file does not exist, or nothing arrived: nothing worth
            // keeping for a resume.
            switch error {
            case .httpStatus, .accessDenied: try? FileManager.default.removeItem(at: staging)
            default: Self.removeIfEmpty(staging)
            }
            throw error
        } catch {
            Self.removeIfEmpty(staging)
            throw error
        }
        for file in files {
            let url = staging.appendingPathComponent(file)
            if let reason = Self.contentProblem(url) {
                unlink(url.path)
                Self.removeIfEmpty(staging)
                throw ModelStoreError.invalidContent(id: id.description, file: file, reason: reason)
            }
        }
        try ModelDownloader.io(final) {
            try FileManager.default.moveItem(at: staging, to: final)
        }
        fetched = true
        return final
    }

    /// Why a downloaded file is not what its name says, or nil: a `.safetensors` file starts
    /// with an 8-byte little-endian header length that fits the file and a JSON object; a
    /// `.json` file parses as JSON; a `.txt` file is UTF-8 text.
    static func contentProblem(_ url: URL) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return "cannot be read" }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int64.init) ?? 0
        try? handle.seek(toOffset: 0)
        switch url.pathExtension {
        case "safetensors":
            let head = (try? handle.read(upToCount: 9)) ?? Data()
            guard head.count == 9 else { return "is too short for a safetensors file" }
            let n = head.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            guard n >= 2, n <= UInt64(size - 8), head[8] == UInt8(ascii: "{") else {
                return "is not a safetensors file (\(head.prefix(1).first == UInt8(ascii: "<") ? "it looks like an HTML page" : "its header is not valid"))"
            }
        case "json":
            guard size <= 256 << 20, let data = try? handle.readToEnd(),
                  (try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)) != nil else { return "is not valid JSON" }
        case "txt":
            guard size <= 256 << 20, let data = try? handle.readToEnd(), String(data: data, encoding: .utf8) != nil else { return "is not UTF-8 text" }
        default:
            break
        }
        return nil
    }

    /// Removes a staging folder that holds no downloaded bytes (nothing to resume from).
    static func removeIfEmpty(_ staging: URL) {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: staging.path)) ?? []
        let bytes = names.reduce(Int64(0)) { $0 + (FileTransfer.size(of: staging.appendingPathComponent($1)) ?? 0) }
        if bytes == 0 { try? fm.removeItem(at: staging) }
    }

    /// A revision folder that already exists: it must hold this downloader's files.
    private func finished(_ directory: URL) throws -> URL {
        try ModelStore.checkFiles(in: directory, files, shownAs: directory.path)
        return directory
    }

    static func io<T>(_ url: URL, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ModelStoreError {
            throw error
        } catch {
            throw ModelStoreError.io(path: url.path, detail: (error as NSError).localizedDescription)
        }
    }
}

/// One file: `<staging>/<file>.partial` grows until complete, then is renamed to `<file>`.
struct FileTransfer {
    let id: ModelID
    let revision: String
    let file: String
    let source: URL
    let staging: URL
    let timeout: TimeInterval
    let token: String?
    /// The model's page on the hub, for the message of a refused file.
    let page: String
    let progress: @Sendable (Int64, Int64?) -> Void

    var target: URL { staging.appendingPathComponent(file) }
    var partial: URL { staging.appendingPathComponent(file + ".partial") }
    /// The ETag of the response that started `partial`, sent back as `If-Range`.
    var validatorFile: URL { staging.appendingPathComponent(file + ".partial.etag") }

    func run() async throws {
        if let size = FileTransfer.size(of: target) {
            progress(size, size)
            return
        }
        // A server that keeps answering with the wrong range gets three tries.
        for _ in 0 ..< 3 {
            let offset = FileTransfer.size(of: partial) ?? 0
            var request = URLRequest(url: source, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
            request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
            request.setValue("landscribe", forHTTPHeaderField: "User-Agent")
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            if offset > 0 {
                request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range")
                if let validator = try? String(contentsOf: validatorFile, encoding: .utf8), !validator.hasPrefix("W/") {
                    request.setValue(validator, forHTTPHeaderField: "If-Range")
                }
            }
            let outcome = await PartialFileWriter.transfer(request, to: partial, resumingAt: offset, timeout: timeout, progress: progress)
            if let writeError = outcome.writeError {
                throw ModelStoreError.io(path: partial.path, detail: writeError.localizedDescription)
            }
            guard let status = outcome.status else {
                if outcome.error is CancellationError || (outcome.error as? URLError)?.code == .cancelled {
                    throw CancellationError()
                }
                throw ModelStoreError.hubUnreachable(hub: FileTransfer.hubName(source), detail: FileTransfer.describe(outcome.error))
            }
            switch status {
            case 200, 206:
                if outcome.rangeMismatch {
                    discardPartial()
                    continue
                }
                if status == 200 { saveValidator(outcome.header("etag")) }
                if let error = outcome.error {
                    throw ModelStoreError.interrupted(
                        id: id.description, file: file, bytesDone: FileTransfer.size(of: partial) ?? 0,
                        bytesTotal: outcome.total, detail: FileTransfer.describe(error))
                }
                try complete(outcome)
                return
            case 416:
                // Nothing left past `offset`: the partial is whole if the server says it has that size.
                if let total = FileTransfer.contentRange(outcome.header("content-range"))?.total, total == offset {
                    try complete(outcome)
                    return
                }
                discardPartial()
            case 401, 403:
                throw ModelStoreError.accessDenied(id: id.description, file: file, revision: revision, status: status,
                                                   page: page, tokenSent: token != nil)
            default:
                throw ModelStoreError.httpStatus(id: id.description, file: file, revision: revision, status: status)
            }
        }
        throw ModelStoreError.interrupted(
            id: id.description, file: file, bytesDone: 0, bytesTotal: nil,
            detail: "the hub kept answering with a range other than the one asked for")
    }

    /// Checks the finished partial against the announced size and checksum, then renames it.
    private func complete(_ outcome: TransferOutcome) throws {
        let size = FileTransfer.size(of: partial) ?? 0
        let expectedSize = outcome.total ?? outcome.header("x-linked-size").flatMap { Int64($0) }
        if let expectedSize, size < expectedSize {
            throw ModelStoreError.interrupted(
                id: id.description, file: file, bytesDone: size, bytesTotal: expectedSize,
                detail: "the connection closed early")
        }
        if let expectedSize, size > expectedSize {
            discardPartial()
            throw ModelStoreError.sizeMismatch(id: id.description, file: file, expected: expectedSize, actual: size)
        }
        if let expected = outcome.announcedSHA256 {
            let actual = try ModelDownloader.io(partial) { try FileDigest.sha256Hex(ofFile: partial) }
            if actual != expected {
                discardPartial()
                throw ModelStoreError.checksumMismatch(id: id.description, file: file, expected: expected, actual: actual)
            }
        }
        try ModelDownloader.io(target) { try FileManager.default.moveItem(at: partial, to: target) }
        try? FileManager.default.removeItem(at: validatorFile)
    }

    private func saveValidator(_ etag: String?) {
        if let etag, !etag.isEmpty {
            try? etag.write(to: validatorFile, atomically: true, encoding: .utf8)
        } else {
            try? FileManager.default.removeItem(at: validatorFile)
        }
    }

    private func discardPartial() {
        try? FileManager.default.removeItem(at: partial)
        try? FileManager.default.removeItem(at: validatorFile)
    }

    static func size(of url: URL) -> Int64? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              (attributes[.type] as? FileAttributeType) == .typeRegular
        else { return nil }
        return (attributes[.size] as? NSNumber)?.int64Value
    }

    /// `bytes START-END/TOTAL` or `bytes */TOTAL`.
    static func contentRange(_ value: String?) -> (start: Int64?, total: Int64?)? {
        guard let value, value.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = value.dropFirst(6).trimmingCharacters(in: .whitespaces)
        let halves = spec.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        let start = halves[0].split(separator: "-").first.flatMap { Int64($0) }
        return (start, Int64(halves[1]))
    }

    static func hubName(_ url: URL) -> String {
        var components = URLComponents()
        components.scheme = url.scheme
        components.host = url.host
        components.port = url.port
        return components.string ?? url.absoluteString
    }

    static func describe(_ error: (any Error)?) -> String {
        guard let error else { return "no answer" }
        if let urlError = error as? URLError {
            switch urlError.code {
            case .cannotConnectToHost: return "connection refused"
            case .cannotFindHost, .dnsLookupFailed: return "host not found"
            case .notConnectedToInternet: return "no network"
            case .timedOut: return "timed out"
            case .networkConnectionLost: return "connection lost"
            case .secureConnectionFailed: return "TLS handshake failed"
            default: break
            }
        }
        return (error as NSError).localizedDescription
    }
}

/// What one HTTP exchange left behind.
struct TransferOutcome: Sendable {
    var status: Int?
    /// Header names lowercased; those of a redirect (the hub's `X-Linked-*`) fill in gaps.
    var headers: [String: String] = [:]
    var total: Int64?
    var rangeMismatch = false
    var error: (any Error)?
    var writeError: (any Error)?

    func header(_ name: String) -> String? { headers[name] }

    /// A SHA-256 the hub gave as `X-Linked-Etag` (large files) or `ETag`, when it is one.
    var announcedSHA256: String? {
        for name in ["x-linked-etag", "etag"] {
            guard var value = headers[name] else { continue }
            if value.hasPrefix("W/") { continue }
            value = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            let hex = value.lowercased()
            if hex.count == 64, hex.allSatisfy(\.isHexDigit) { return hex }
        }
        return nil
    }
}

/// URLSession delegate that streams a response body into a `.partial` file.
/// Mutable state is touched only on the session's serial delegate queue, and by `transfer`
/// before the task starts; hence `@unchecked Sendable`.
final class PartialFileWriter: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let partial: URL
    private let offset: Int64
    private let progress: @Sendable (Int64, Int64?) -> Void
    private var handle: FileHandle?
    private var written: Int64 = 0
    private var outcome = TransferOutcome()
    private var redirectHeaders: [String: String] = [:]
    private var continuation: CheckedContinuation<TransferOutcome, Never>?

    private init(partial: URL, offset: Int64, progress: @escaping @Sendable (Int64, Int64?) -> Void) {
        self.partial = partial
        self.offset = offset
        self.progress = progress
    }

    static func transfer(
        _ request: URLRequest, to partial: URL, resumingAt offset: Int64, timeout: TimeInterval,
        progress: @escaping @Sendable (Int64, Int64?) -> Void
    ) async -> TransferOutcome {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForRequest = timeout
        configuration.httpShouldSetCookies = false
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let writer = PartialFileWriter(partial: partial, offset: offset, progress: progress)
        let session = URLSession(configuration: configuration, delegate: writer, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                writer.continuation = continuation
                task.resume()
            }
        } onCancel: {
            task.cancel()
        }
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        for (name, value) in PartialFileWriter.headers(of: response) where name.hasPrefix("x-linked-") {
            redirectHeaders[name] = value
        }
        // The access token is for the hub: a redirect to another host (a CDN) goes without it.
        var next = request
        if next.url?.host?.lowercased() != task.originalRequest?.url?.host?.lowercased() {
            next.setValue(nil, forHTTPHeaderField: "Authorization")
        }
        completionHandler(next)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        guard let http = response as? HTTPURLResponse else {
            completionHandler(.cancel)
            return
        }
        outcome.status = http.statusCode
        outcome.headers = redirectHeaders.merging(PartialFileWriter.headers(of: http)) { _, own in own }
        let length = http.expectedContentLength >= 0 ? http.expectedContentLength : nil
        var start: Int64
        switch http.statusCode {
        case 200:
            start = 0
            outcome.total = length
        case 206:
            let range = FileTransfer.contentRange(outcome.header("content-range"))
            guard let range, range.start == offset else {
                outcome.rangeMismatch = true
                completionHandler(.cancel)
                return
            }
            start = offset
            outcome.total = range.total ?? length.map { offset + $0 }
        default:
            // An error page: let it arrive and drop it.
            completionHandler(.allow)
            return
        }
        do {
            if !FileManager.default.fileExists(atPath: partial.path) {
                _ = FileManager.default.createFile(atPath: partial.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: partial)
            try handle.truncate(atOffset: UInt64(start))
            try handle.seekToEnd()
            self.handle = handle
            written = start
        } catch {
            outcome.writeError = error
            completionHandler(.cancel)
            return
        }
        progress(written, outcome.total)
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let handle, outcome.writeError == nil else { return }
        do {
            try handle.write(contentsOf: data)
            written += Int64(data.count)
            progress(written, outcome.total)
        } catch {
            outcome.writeError = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let handle {
            if outcome.writeError == nil {
                do { try handle.synchronize() } catch { outcome.writeError = error }
            }
            try? handle.close()
            self.handle = nil
        }
        // A cancel of our own (range mismatch, write error) is not a transfer error.
        if !outcome.rangeMismatch, outcome.writeError == nil { outcome.error = error }
        continuation?.resume(returning: outcome)
        continuation = nil
    }

    static func headers(of response: HTTPURLResponse) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in response.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return headers
    }
}

/// An exclusive `flock` on a file beside the staging folder, so two fetches of one model and
/// revision do not write the same partial files. `unlock` removes the file; after a crash the
/// kernel drops the lock and the next fetch reuses the file.
final class FileLock: Sendable {
    private let descriptor: Int32

    init(_ url: URL, id: ModelID, revision: String) throws {
        let descriptor = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ModelStoreError.io(path: url.path, detail: String(cString: strerror(errno)))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ModelStoreError.busy(id: id.description, revision: revision, lock: url.path)
        }
        self.descriptor = descriptor
        path = url.path
    }

    private let path: String

    /// Removes the lock file, then gives the lock up, so a fetch leaves no lock file behind.
    func unlock() {
        unlink(path)
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
