namespace DockerProxy.Tests.Performance;

/// <summary>Tests that count the process's allocations run alone: other tests would allocate meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationGroup
{
    public const string Name = "Allocation";
}
