namespace DockerProxy.Cli;

/// <summary>How a flag's value is read, after Go's flag package (flag.String, flag.Int, flag.TextVar(net.IP), flag.Bool, flag.Duration).</summary>
internal enum FlagKind
{
    String,
    Int,
    Ip,
    Bool,
    Duration,

    /// <summary>A string that may be given many times, every occurrence kept in order (a Go flag.Value that appends).</summary>
    StringList,
}
