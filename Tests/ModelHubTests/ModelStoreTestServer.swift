// A minimal HTTP/1.1 server on 127.0.0.1 for the model download tests: one thread per
// connection, `Connection: close`, and full control over what is sent, including a body cut
// short by a closed connection. It never listens on anything but loopback.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class LoopbackServer: @unchecked Sendable {
    struct Request: Sendable {
        let method: String
        let path: String
        /// Header names lowercased.
        let headers: [String: String]
    }

    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Send only this many body bytes (after announcing them all), then close.
        var closeAfter: Int?
    }

    typealias Handler = @Sendable (Request) -> Response

    let port: UInt16
    var baseURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    private let listener: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var received: [Request] = []

    /// Every request so far, in arrival order.
    var requests: [Request] { lock.withLock { received } }

    init(handler: @escaping Handler) throws {
        self.handler = handler
        let (listener, port) = try LoopbackServer.openListener()
        self.listener = listener
        self.port = port
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// A loopback port on which nothing listens (bound, then closed again).
    static func unusedPort() throws -> UInt16 {
        let (descriptor, port) = try openListener()
        close(descriptor)
        return port
    }

    private static func openListener() throws -> (Int32, UInt16) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0
                    && listen(descriptor, 16) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        return (descriptor, UInt16(bigEndian: address.sin_port))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let request = readRequest(client) else { return }
        lock.withLock { received.append(request) }
        let response = handler(request)
        var head = "HTTP/1.1 \(response.status) \(response.status < 300 ? "OK" : "Status")\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        if !response.headers.contains(where: { $0.0.lowercased() == "content-length" }) {
            head += "Content-Length: \(response.body.count)\r\n"
        }
        head += "Connection: close\r\n\r\n"
        guard sendAll(client, Array(head.utf8)) else { return }
        let count = min(response.closeAfter ?? response.body.count, response.body.count)
        _ = sendAll(client, Array(response.body[0 ..< count]))
    }

    private func readRequest(_ client: Int32) -> Request? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while bytes.count < 65536 {
            if bytes.count >= 4, Array(bytes.suffix(4)) == end { break }
            let count = recv(client, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            bytes += chunk[0 ..< count]
        }
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers)
    }

    private func sendAll(_ client: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }
}

/// A fake hub that serves files under `/{owner}/{name}/resolve/{revision}/{file}`, with
/// `Range` support like the real one.
struct FakeHub: Sendable {
    var files: [String: [UInt8]]
    var prefix = "/test/tiny-clip/resolve/main/"
    var honorsRange = true
    /// An ETag per file name (sent as is, so include the quotes).
    var etags: [String: String] = [:]

    /// The file a request asks for, if it is under `prefix`.
    func file(of request: LoopbackServer.Request) -> String? {
        request.path.hasPrefix(prefix) ? String(request.path.dropFirst(prefix.count)) : nil
    }

    func respond(_ request: LoopbackServer.Request) -> LoopbackServer.Response {
        guard let name = file(of: request), let body = files[name] else {
            return .init(status: 404, body: Array("Entry not found".utf8))
        }
        var headers: [(String, String)] = [("Accept-Ranges", "bytes")]
        if let etag = etags[name] { headers.append(("ETag", etag)) }
        if honorsRange, let range = request.headers["range"], range.hasPrefix("bytes="),
           let start = Int(range.dropFirst(6).split(separator: "-").first ?? "") {
            if let condition = request.headers["if-range"], condition != etags[name] {
                return .init(status: 200, headers: headers, body: body)
            }
            guard start < body.count else {
                return .init(status: 416, headers: headers + [("Content-Range", "bytes */\(body.count)")])
            }
            headers.append(("Content-Range", "bytes \(start)-\(body.count - 1)/\(body.count)"))
            return .init(status: 206, headers: headers, body: Array(body[start...]))
        }
        return .init(status: 200, headers: headers, body: body)
    }
}
