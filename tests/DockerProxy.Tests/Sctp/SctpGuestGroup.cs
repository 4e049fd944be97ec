namespace DockerProxy.Tests.Sctp;

/// <summary>
/// The guest keeps one core busy for about a minute: it runs alone rather than beside tests that
/// wait on real sockets with bounded patience.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SctpGuestGroup
{
    public const string Name = "SctpGuest";
}
