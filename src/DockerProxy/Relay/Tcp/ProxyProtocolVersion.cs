namespace DockerProxy.Relay.Tcp;

/// <summary>Whether and how a TCP relay tells the container who the client is (the PROXY protocol).</summary>
internal enum ProxyProtocolVersion
{
    /// <summary>No header: the container sees the proxy as its client (the original's behaviour).</summary>
    None,

    /// <summary>The human-readable header: <c>PROXY TCP4 src dst sport dport\r\n</c>.</summary>
    V1,

    /// <summary>The binary header with the 12-byte signature.</summary>
    V2,
}
