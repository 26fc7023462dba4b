import LandscribeCLI

@main
struct Entry {
    static func main() async {
        await Landscribe.main()
    }
}
