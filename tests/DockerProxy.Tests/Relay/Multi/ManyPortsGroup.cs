namespace DockerProxy.Tests.Relay.Multi;

/// <summary>The 2,000-port test runs alone: its thousands of sockets and connections would
/// otherwise load the machine under the tests that measure a proxy's memory and fds.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ManyPortsGroup
{
    internal const string Name = "Many ports";
}
