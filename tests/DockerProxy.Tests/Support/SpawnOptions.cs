namespace DockerProxy.Tests.Support;

/// <summary>How to start a proxy process.</summary>
internal sealed record SpawnOptions
{
    /// <summary>Give it fd 3 as a status pipe, as dockerd does (false: as started by hand).</summary>
    public bool StatusPipe { get; init; } = true;

    /// <summary>An fd of the test process to pass on as fd 4 (-use-listen-fd).</summary>
    public int? ListenFd { get; init; }

    /// <summary>An fd of the test process to pass on as fd 3 (socket activation); needs <see cref="StatusPipe"/> false.</summary>
    public int? ActivationFd { get; init; }

    /// <summary>Stderr to /dev/null, exactly as dockerd (false: captured for the test).</summary>
    public bool StderrToDevNull { get; init; }

    /// <summary>Capture stdout (otherwise /dev/null, as dockerd).</summary>
    public bool CaptureStdout { get; init; }

    /// <summary>Variables to set (a null value removes one) on top of the test's environment.</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();
}
