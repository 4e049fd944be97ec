namespace DockerProxy.Relay.Tcp;

/// <summary>How a TCP relay moves bytes.</summary>
internal enum CopyMode
{
    /// <summary>splice(2) socket -> pipe -> socket: the bytes never enter the process (Linux).</summary>
    Splice,

    /// <summary>System.IO.Pipelines with pooled buffers: the portable path, and splice's fallback.</summary>
    Pipelines,
}
