using System.Net;

namespace DockerProxy.Relay;

/// <summary>
/// One mapping being served: a bound listener relaying to one backend. TCP, UDP and SCTP relays
/// implement it, and one process can host several (each with its own listener).
/// </summary>
internal interface IRelay : IAsyncDisposable
{
    /// <summary>The address actually listened on (with the kernel's port when 0 was asked).</summary>
    EndPoint LocalEndPoint { get; }

    /// <summary>Serves until <paramref name="stoppingToken"/> fires or the relay is disposed.</summary>
    Task RunAsync(CancellationToken stoppingToken);

    /// <summary>
    /// Graceful drain (-drain-timeout): stops accepting (the listener is closed, so new clients are
    /// refused), then waits until every open connection has ended by itself, at most
    /// <paramref name="timeout"/> or until <paramref name="abandon"/> fires. Whatever is still open
    /// afterwards is cut by <see cref="IAsyncDisposable.DisposeAsync"/>. A relay without connections
    /// (UDP: datagrams, and replies need the listener) has nothing to wait for.
    /// </summary>
    Task DrainAsync(TimeSpan timeout, CancellationToken abandon) => Task.CompletedTask;
}
