namespace DockerProxy.Cli;

/// <summary>What the command line asked for.</summary>
internal enum FlagParseOutcome
{
    /// <summary>Run the proxy with the values read.</summary>
    Run,

    /// <summary>-h or -help: print usage, exit 0.</summary>
    Help,

    /// <summary>A flag error: print it and the usage on stderr, exit 2, nothing on fd 3.</summary>
    Error,
}
