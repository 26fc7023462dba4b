import LandscribeCLI

@main
struct Entry {
    static func main() async {
        Landscribe.prepareProcess()
        await Landscribe.main()
    }
}
