// Gated models: the access token goes to the hub as a bearer token, never to another host,
// never into the cache or a message; 401/403 explain how to get access.
import Foundation
import Testing
@testable import ModelHub

extension ModelStoreTests {
    static let token = "hf_TestToken0123456789"

    /// A hub that serves the fake model only to requests carrying `Bearer token`, else 401.
    static func gatedHub(_ request: LoopbackServer.Request) -> LoopbackServer.Response {
        guard request.headers["authorization"] == "Bearer \(token)" else {
            return .init(status: 401, body: Array("Access to model test/tiny-clip is restricted.".utf8))
        }
        return FakeHub(files: model).respond(request)
    }

    /// Every byte under `root`, to look for the token.
    static func contents(under root: URL) -> [URL: Data] {
        var out = [URL: Data]()
        let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)
        while let url = e?.nextObject() as? URL {
            if let data = try? Data(contentsOf: url) { out[url] = data }
        }
        return out
    }

    @Test func aTokenIsSentAsABearerTokenToTheHubAndNeverStored() async throws {
        try await withCache { store in
            try await withServer(Self.gatedHub) { server in
                let folder = try await ModelDownloader(store: store, hubURL: server.baseURL, timeout: 10, token: Self.token).fetch(Self.id)
                #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == Data(Self.weights))
                #expect(server.requests.count == 4)
                #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer \(Self.token)" })
                for (url, data) in Self.contents(under: store.root) {
                    #expect(data.range(of: Data(Self.token.utf8)) == nil, "the token is in \(url.path)")
                }
            }
        }
    }

    @Test func withoutATokenNoAuthorizationIsSentAndTheRefusalSaysHowToGetAccess() async throws {
        try await withCache { store in
            try await withServer(Self.gatedHub) { server in
                let error = await #expect(throws: ModelStoreError.self) {
                    try await ModelDownloader(store: store, hubURL: server.baseURL, timeout: 10).fetch(Self.id)
                }
                #expect(server.requests.allSatisfy { $0.headers["authorization"] == nil })
                let message = try #require(error?.description)
                for words in ["'test/tiny-clip'", "'config.json'", "HTTP 401", "no access token was sent", "gated",
                              "accept its licence on \(server.baseURL.absoluteString)/test/tiny-clip", "HF_TOKEN"] {
                    #expect(message.contains(words), "\(words) not in: \(message)")
                }
                #expect(!message.contains("\n"))
                #expect(!FileManager.default.fileExists(atPath: staging(store).path), "nothing is left after a refusal")
            }
        }
    }

    @Test(arguments: [401, 403])
    func aRefusedTokenIsNamedButNeverShown(status: Int) async throws {
        try await withCache { store in
            try await withServer({ _ in .init(status: status) }) { server in
                let error = await #expect(throws: ModelStoreError.self) {
                    try await ModelDownloader(store: store, hubURL: server.baseURL, timeout: 10, token: Self.token).fetch(Self.id)
                }
                let message = try #require(error?.description)
                #expect(message.contains("HTTP \(status)") && message.contains("with the access token given"), "\(message)")
                #expect(!message.contains(Self.token) && !message.contains("hf_"))
            }
        }
    }

    @Test func theTokenDoesNotFollowARedirectToAnotherHost() async throws {
        try await withCache { store in
            // 127.0.0.1 redirects the weights to "localhost" (another host name, the same server).
            let handler: LoopbackServer.Handler = { request in
                if request.path == Self.weightsPath, let port = request.headers["host"]?.split(separator: ":").last {
                    return .init(status: 302, headers: [("Location", "http://localhost:\(port)/cdn/model.safetensors")])
                }
                if request.path == "/cdn/model.safetensors" { return .init(status: 200, body: Self.weights) }
                return Self.gatedHub(request)
            }
            try await withServer(handler) { server in
                _ = try await ModelDownloader(store: store, hubURL: server.baseURL, timeout: 10, token: Self.token).fetch(Self.id)
                let cdn = server.requests.filter { $0.path == "/cdn/model.safetensors" }
                #expect(cdn.count == 1)
                #expect(cdn.allSatisfy { $0.headers["authorization"] == nil }, "\(cdn.map(\.headers))")
            }
        }
    }

    @Test func theTokenComesFromHFTokenWhenSet() {
        #expect(ModelDownloader.token(environment: ["HF_TOKEN": Self.token]) == Self.token)
        #expect(ModelDownloader.token(environment: ["HF_TOKEN": " \(Self.token)\n"]) == Self.token)
        #expect(ModelDownloader.token(environment: ["HF_TOKEN": ""]) == nil)
        #expect(ModelDownloader.token(environment: [:]) == nil)
    }
}
