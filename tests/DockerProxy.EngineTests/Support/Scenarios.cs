using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace DockerProxy.EngineTests.Support;

/// <summary>A scenario's place in the run (destructive ones last) and its title in the report.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ScenarioAttribute(int order, string title) : Attribute
{
    public int Order { get; } = order;

    public string Title { get; } = title;
}

/// <summary>Runs scenarios in their order, ours before the original within each.</summary>
public sealed class ScenarioOrderer : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases
            .OrderBy(tc => OrderOf(tc))
            .ThenBy(tc => tc.TestMethodArguments is { Length: > 0 } args && args[0] is ProxyKind kind ? (int)kind : 0)
            .ThenBy(tc => tc.DisplayName, StringComparer.Ordinal);

    private static int OrderOf(ITestCase testCase)
    {
        IAttributeInfo? scenario = testCase.TestMethod.Method.GetCustomAttributes(typeof(ScenarioAttribute)).FirstOrDefault();
        return scenario?.GetConstructorArguments().FirstOrDefault() is int order ? order : int.MaxValue;
    }
}

/// <summary>The outcome of one scenario with one proxy, for the report.</summary>
internal sealed record Outcome(string Status, TimeSpan Elapsed, IReadOnlyList<string> Notes);

/// <summary>Collects outcomes per scenario and proxy and renders the two columns of one engine.</summary>
internal sealed class Scoreboard
{
    private readonly ConcurrentDictionary<(int Order, string Title, ProxyKind Kind), Outcome> _outcomes = new();

    internal void Record(int order, string title, ProxyKind kind, Outcome outcome) => _outcomes[(order, title, kind)] = outcome;

    internal bool IsEmpty => _outcomes.IsEmpty;

    internal string Render(string heading)
    {
        var text = new StringBuilder();
        var rows = _outcomes.Keys.Select(k => (k.Order, k.Title)).Distinct().OrderBy(r => r.Order).ToList();
        int width = Math.Max(8, rows.Max(r => r.Title.Length)) + 5;
        text.AppendLine(heading);
        text.AppendLine(CultureInfo.InvariantCulture, $"  {"scenario".PadRight(width)} {"ours",-12} {"original",-12}");
        foreach (var row in rows)
        {
            string title = $"{row.Order,2}. {row.Title}";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"  {title.PadRight(width)} {Cell(row, ProxyKind.Ours),-12} {Cell(row, ProxyKind.Original),-12}");
        }

        foreach (var ((order, _, kind), outcome) in _outcomes.OrderBy(o => o.Key.Order).ThenBy(o => o.Key.Kind))
        {
            foreach (string note in outcome.Notes)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"  {order,2}. {kind.ToString().ToLowerInvariant(),-8} {note}");
            }
        }

        return text.ToString().TrimEnd();
    }

    private string Cell((int Order, string Title) row, ProxyKind kind) =>
        _outcomes.TryGetValue((row.Order, row.Title, kind), out Outcome? o)
            ? $"{o.Status} {o.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s"
            : "-";
}
