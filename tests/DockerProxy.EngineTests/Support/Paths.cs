namespace DockerProxy.EngineTests.Support;

/// <summary>Which docker-proxy an engine runs: ours, or Docker's original of the engine's release.</summary>
public enum ProxyKind
{
    Ours,
    Original,
}

/// <summary>
/// Where things are: the repository (found from the test assembly upwards), the engine script,
/// ours (artifacts/publish/docker-proxy, from build/publish.sh; DOCKER_PROXY_BIN overrides) and
/// the originals (artifacts/originals/VERSION/, from build/fetch-originals.sh;
/// DOCKER_PROXY_ORIGINALS overrides the folder).
/// </summary>
internal static class Paths
{
    internal static string RepositoryRoot { get; } = FindRoot();

    internal static string EngineScript => Path.Combine(RepositoryRoot, "build", "engines", "engine.sh");

    internal static string Originals =>
        Environment.GetEnvironmentVariable("DOCKER_PROXY_ORIGINALS") ?? Path.Combine(RepositoryRoot, "artifacts", "originals");

    internal static string Proxy(ProxyKind kind, string version) => kind == ProxyKind.Ours
        ? Environment.GetEnvironmentVariable("DOCKER_PROXY_BIN") ?? Path.Combine(RepositoryRoot, "artifacts", "publish", "docker-proxy")
        : Path.Combine(Originals, version, "docker-proxy");

    /// <summary>The dockerd engine.sh runs for a version (it decides the same way).</summary>
    internal static string Dockerd(string version)
    {
        string? overridden = Environment.GetEnvironmentVariable("DOCKERD");
        if (!string.IsNullOrEmpty(overridden))
        {
            return overridden;
        }

        if (version == "20.10" && File.Exists("/usr/sbin/dockerd"))
        {
            return "/usr/sbin/dockerd";
        }

        return Path.Combine(Originals, version, "dockerd");
    }

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DockerProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DockerProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
