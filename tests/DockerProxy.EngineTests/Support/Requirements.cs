namespace DockerProxy.EngineTests.Support;

/// <summary>
/// What the engine tests need: Linux, root, the tools build/engines/install.sh installs, the
/// engine's dockerd and both proxies. When something is missing the tests skip with the reason;
/// under CI=true they fail with it instead.
/// </summary>
internal static class Requirements
{
    private static readonly string[] Tools =
    [
        "/usr/bin/docker", "containerd", "containerd-shim-runc-v2", "runc", "docker-init", "tini",
        "busybox", "ip", "unshare", "setsid", "flock", "strace", "python3",
    ];

    internal static bool IsCi => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>Why the engine tests of a release cannot run here, or null when they can.</summary>
    internal static string? Missing(string version)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "engine tests need Linux";
        }

        if (Posix.GetEUid() != 0)
        {
            return "engine tests need root (they run private dockerd instances); run as root or filter out Category=Engine";
        }

        var missing = Tools.Where(tool => Which(tool) is null).ToList();
        if (missing.Count > 0)
        {
            return $"not installed: {string.Join(", ", missing)} (run build/engines/install.sh as root)";
        }

        string dockerd = Paths.Dockerd(version);
        if (!File.Exists(dockerd))
        {
            return $"dockerd {version} not found at {dockerd} (run build/engines/install.sh)";
        }

        foreach (ProxyKind kind in Enum.GetValues<ProxyKind>())
        {
            string proxy = Paths.Proxy(kind, version);
            if (!File.Exists(proxy))
            {
                string hint = kind == ProxyKind.Ours ? "build/publish.sh" : "build/fetch-originals.sh";
                return $"{kind.ToString().ToLowerInvariant()} docker-proxy for {version} not found at {proxy} (run {hint})";
            }
        }

        return null;
    }

    /// <summary>Skips (or, under CI=true, fails) the calling test when reason is not null.</summary>
    internal static void SkipOrFail(string? reason)
    {
        if (reason is null)
        {
            return;
        }

        if (IsCi)
        {
            throw new InvalidOperationException("engine tests cannot run under CI=true: " + reason);
        }

        Skip.If(true, reason);
    }

    private static string? Which(string tool)
    {
        if (tool.StartsWith('/'))
        {
            return File.Exists(tool) ? tool : null;
        }

        foreach (string dir in new[] { "/usr/sbin", "/usr/bin", "/sbin", "/bin" })
        {
            string path = Path.Combine(dir, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }
}
