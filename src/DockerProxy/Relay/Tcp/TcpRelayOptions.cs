namespace DockerProxy.Relay.Tcp;

/// <summary>How a TCP relay copies.</summary>
/// <param name="CopyMode">splice (zero copy) or Pipelines.</param>
internal sealed record TcpRelayOptions(CopyMode CopyMode)
{
    /// <summary>The defaults: splice, which the side-by-side benchmark measured fastest (docs/performance.md).</summary>
    internal static TcpRelayOptions Default { get; } = new(CopyMode.Splice);
}
