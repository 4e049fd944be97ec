namespace DockerProxy.Tests.Support;

/// <summary>
/// Where the binaries under test are: ours (published by build/publish.sh) and Docker's originals
/// (fetched by build/fetch-originals.sh). DOCKER_PROXY_BIN and DOCKER_PROXY_ORIGINALS override the
/// defaults under the repository's artifacts/ folder.
/// </summary>
internal static class Binaries
{
    internal const string Ours = "ours";
    internal const string Original2010 = "20.10";
    internal const string Original285 = "28.5";

    internal static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The three implementations, for parity theories.</summary>
    internal static TheoryData<string> All => new() { Ours, Original2010, Original285 };

    /// <summary>Ours and the newest original: those with -use-listen-fd, -v and the newest wording.</summary>
    internal static TheoryData<string> Newest => new() { Ours, Original285 };

    /// <summary>The path of an implementation; skips the test (fails it under CI=true) when missing.</summary>
    internal static string Path(string which)
    {
        string path = which == Ours
            ? Environment.GetEnvironmentVariable("DOCKER_PROXY_BIN") ?? System.IO.Path.Combine(RepositoryRoot, "artifacts", "publish", "docker-proxy")
            : System.IO.Path.Combine(
                Environment.GetEnvironmentVariable("DOCKER_PROXY_ORIGINALS") ?? System.IO.Path.Combine(RepositoryRoot, "artifacts", "originals"),
                which,
                "docker-proxy");
        if (File.Exists(path))
        {
            return path;
        }

        string hint = which == Ours ? "build/publish.sh" : "build/fetch-originals.sh";
        string reason = $"{which} docker-proxy not found at {path}: run {hint} (build/test.sh does both)";
        if (Environment.GetEnvironmentVariable("CI") == "true")
        {
            throw new FileNotFoundException(reason, path);
        }

        Skip.If(true, reason);
        return path;
    }

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "DockerProxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("DockerProxy.sln not found above " + AppContext.BaseDirectory);
    }
}
