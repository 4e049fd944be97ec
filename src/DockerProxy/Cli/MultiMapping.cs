namespace DockerProxy.Cli;

/// <summary>
/// Whether the command line asks for many mappings (-map, -config) and whether it does so
/// consistently: each mapping names its own protocol, addresses and ports, so the classic flags
/// that describe the one mapping (and -use-listen-fd, which hands over one listener) cannot be
/// combined with them. -map and -config may be combined: the -map ones stay fixed, the file's
/// are re-read on SIGHUP.
/// </summary>
internal static class MultiMapping
{
    private static readonly string[] ClassicFlags =
        [Flags.Proto, Flags.HostIp, Flags.HostPort, Flags.ContainerIp, Flags.ContainerPort, Flags.UseListenFd];

    /// <summary>The mappings' source; null for a classic single-mapping command line.</summary>
    internal static MappingSource? Read(FlagValues values, List<string> problems)
    {
        IReadOnlyList<string> maps = values.GetAll(Flags.Map);
        string? config = values.Get(Flags.Config);
        if (maps.Count == 0 && config is null)
        {
            return null;
        }

        foreach (string flag in ClassicFlags)
        {
            if (values.IsSet(flag))
            {
                problems.Add($"-{flag} cannot be combined with -map or -config (each mapping names its own protocol, addresses and ports)");
            }
        }

        if (config is not null && config.Length == 0)
        {
            problems.Add("-config: empty file name");
            config = null;
        }

        return new MappingSource(maps, config);
    }
}
