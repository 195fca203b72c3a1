{#-
  Rows that are exact copies of another row of the model. The failure count is the number of
  surplus copies, i.e. how many rows a `select distinct` drops.
-#}
{% test exact_duplicate_rows(model) %}
    {{ config(fail_calc='coalesce(sum(n_surplus_copies), 0)') }}
    select *, count(*) - 1 as n_surplus_copies
    from {{ model }}
    group by all
    having count(*) > 1
{% endtest %}
