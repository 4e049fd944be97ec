namespace DockerProxy.Relay.Tcp;

/// <summary>One direction of a relayed TCP connection, whichever way it copies.</summary>
internal interface IRelayDirection
{
    /// <summary>Bytes delivered to the destination so far.</summary>
    long BytesSent { get; }

    /// <summary>Runs until the source has ended and everything read was delivered (or the destination failed).</summary>
    Task RunAsync();
}
